import pytest

from tastemaker.rating.consistency import GENERIC_CEILING, Consistency, wilson


def test_wilson_interval_on_known_values():
    # 8 of 10: Wilson 95% is (0.490, 0.943)
    low, high = wilson(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_consistency_from_constructed_answers():
    outcomes = [(1, 1)] * 9 + [(2, 3)] * 3  # 12 repeats, 9 the same
    c = Consistency.from_outcomes(outcomes)
    assert (c.repeats, c.consistent, c.rate) == (12, 9, 0.75)
    assert c.low < 0.75 < c.high
    assert (c.ceiling, c.ceiling_source) == (0.75, "personal")
    few = Consistency.from_outcomes([(1, 1), (1, 2)])
    assert (few.ceiling, few.ceiling_source) == (GENERIC_CEILING, "generic")
    assert few.rate == 0.5

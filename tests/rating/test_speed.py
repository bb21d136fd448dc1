import numpy as np
import pytest

from tastemaker.rating.speed import speed_weights, typical_ms


def test_weights_are_typical_over_taken_clamped_to_half_and_two():
    w = speed_weights([1000, 500, 2000, 100, 10_000, None, 0], typical=1000)
    assert w.tolist() == pytest.approx([1.0, 2.0, 0.5, 2.0, 0.5, 1.0, 1.0])
    assert speed_weights([300, 900], typical=600).tolist() == pytest.approx([2.0, 2 / 3])


def test_typical_is_the_median_of_known_times():
    assert typical_ms([400, None, 800, 1200, 0]) == 800
    assert typical_ms([None]) is None
    assert np.all(speed_weights([500, 700], None) == 1.0)

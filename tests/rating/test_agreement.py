"""The agreement formula: the counts, the two shares, and Elo's verdicts agreeing with it."""

from collections import Counter

import numpy as np
import pytest

from tastemaker.rating import elo
from tastemaker.rating.agreement import Agreement


def test_agreement_leaves_ties_out_and_ties_half_counts_them_half():
    a = Agreement(matched=3, contradicted=1, unpredicted=2)
    assert a.choices == 6
    assert a.agreement == 3 / 4
    assert a.ties_half == (3 + 1) / 6


def test_nothing_to_measure_is_none_not_zero():
    assert Agreement().agreement is None and Agreement().ties_half is None
    only_ties = Agreement(unpredicted=4)
    assert only_ties.agreement is None  # no call made
    assert only_ties.ties_half == 0.5  # at chance


def test_from_counts_reads_elos_verdicts():
    a = Agreement.from_counts({elo.MATCHED: 5, elo.CONTRADICTED: 2})
    assert (a.matched, a.contradicted, a.unpredicted) == (5, 2, 0)
    assert a.to_dict() == {"matched": 5, "contradicted": 2, "unpredicted": 0, "agreement": 5 / 7}


def test_from_scores_by_hand():
    scores = np.array([3.0, 2.0, 1.0, 1.0, np.nan])
    winners, losers = [0, 2, 1, 3, 4], [1, 0, 3, 2, 0]
    # 0 > 1 matched, 2 < 0 contradicted, 1 > 3 matched, 3 = 2 tie, NaN contradicted
    assert Agreement.from_scores(scores, winners, losers) == Agreement(2, 2, 1)
    assert Agreement.from_scores(scores, [], []) == Agreement()


def test_from_scores_agrees_with_elos_prediction_for_pairs():
    rng = np.random.default_rng(0)
    ratings = rng.integers(-3, 4, size=30).astype(float)  # small integers: many ties
    winners, losers = rng.integers(0, 30, 200), rng.integers(0, 30, 200)
    verdicts = Counter(
        elo.prediction([ratings[w], ratings[lo]], 0) for w, lo in zip(winners, losers, strict=True)
    )
    expected = Agreement.from_counts(verdicts)
    assert expected.unpredicted > 0
    assert Agreement.from_scores(ratings, winners, losers) == expected
    assert expected.agreement == pytest.approx(
        expected.matched / (expected.matched + expected.contradicted)
    )

"""Ranks, correlations and z-scores, against their definitions and hand-computed cases."""

import itertools
import warnings

import numpy as np
import pytest

from tastemaker.rating.ranks import (
    pairwise_order_agreement,
    pearson,
    rankdata,
    ranks_from_top,
    spearman,
    tied_ranks,
    zscore,
)


def _ranks_by_definition(x: np.ndarray) -> np.ndarray:
    """The average rank: those below, plus the middle of the places the ties share."""
    below = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    return below + (equal + 1) / 2


def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rankdata([7, 7, 7]).tolist() == [2.0, 2.0, 2.0]
    assert rankdata([]).tolist() == []


@pytest.mark.parametrize("seed", range(5))
def test_rankdata_matches_its_definition_with_many_ties(seed):
    x = np.random.default_rng(seed).integers(0, 6, size=40).astype(float)
    np.testing.assert_array_equal(rankdata(x), _ranks_by_definition(x))


def test_a_hint_changes_the_sort_not_the_ranks():
    rng = np.random.default_rng(1)
    before = rng.integers(0, 20, size=200).astype(float)
    _, order = tied_ranks(before)
    after = before + rng.normal(scale=0.3, size=200) * (rng.random(200) < 0.1)
    ranks, new_order = tied_ranks(after, order)
    np.testing.assert_array_equal(ranks, rankdata(after))
    assert np.all(np.diff(after[new_order]) >= 0)


def test_ranks_from_top_share_the_best_rank_of_a_tie():
    assert ranks_from_top([3.0, 1.0, 3.0, 2.0]).tolist() == [1, 4, 1, 3]
    assert ranks_from_top([5.0]).tolist() == [1]


def test_pearson_by_hand():
    # deviations (-1, 0, 1) and (-2, 1, 1): 3 / sqrt(2 * 6)
    assert pearson([1, 2, 3], [0, 3, 3]) == pytest.approx(3 / np.sqrt(12))
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert pearson(a, a**3) < 1.0
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)


def test_spearman_is_pearson_of_the_ranks():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    # ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(22.5))


def test_spearman_is_invariant_to_monotone_maps():
    x = np.random.default_rng(3).normal(size=300)
    y = x + np.random.default_rng(4).normal(size=300)
    assert spearman(np.exp(x), y**3) == pytest.approx(spearman(x, y))


@pytest.mark.parametrize("correlation", [pearson, spearman])
def test_a_correlation_with_a_constant_or_too_few_values_is_undefined(correlation):
    assert np.isnan(correlation([0, 0, 0], [1, 2, 3]))
    assert np.isnan(correlation([1, 2, 3], [4, 4, 4]))
    assert np.isnan(correlation([1], [2]))
    assert np.isnan(correlation([], []))


def test_zscore_standardises():
    z = zscore([1.0, 2.0, 3.0, 6.0])
    assert z.mean() == pytest.approx(0.0, abs=1e-12)
    assert z.std() == pytest.approx(1.0)
    # mean 3, sd sqrt(3.5)
    assert z == pytest.approx(np.array([-2.0, -1.0, 0.0, 3.0]) / np.sqrt(3.5))


def test_zscore_skips_nan_and_flat_values_stand_out_nowhere():
    z = zscore([np.nan, 1.0, 3.0])
    assert np.isnan(z[0]) and z[1:].tolist() == [-1.0, 1.0]
    assert zscore([2.0, 2.0, np.nan]).tolist() == [0.0, 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "degrees of freedom" warning
        assert zscore([np.nan, np.nan]).tolist() == [0.0, 0.0]
        assert zscore([]).tolist() == []


def test_pairwise_order_agreement_counts_the_pairs_put_the_same_way():
    """Against counting every pair, ties in either ordering left out, across blocks."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 30))
        a, b = (rng.integers(0, 5, n).astype(float) for _ in range(2))
        signs = [
            np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            for i, j in itertools.combinations(range(n), 2)
        ]
        alike, unlike = signs.count(1), signs.count(-1)
        got = pairwise_order_agreement(a, b, block=7)
        if alike + unlike:
            assert got == pytest.approx(alike / (alike + unlike))
        else:
            assert np.isnan(got)
    assert pairwise_order_agreement([1, 2, 3], [10, 20, 30]) == 1.0
    assert pairwise_order_agreement([1, 2, 3], [3, 2, 1]) == 0.0

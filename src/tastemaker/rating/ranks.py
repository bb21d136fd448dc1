"""Ranks, correlations and z-scores: the one copy the training metrics, the progress
reports, the gallery, the pairing rule and the benchmarks share.

Pure numpy, following scipy.stats' conventions: ties get their average rank (scipy's
``rankdata`` default), and a correlation with a constant input is undefined (NaN), as
it is for scipy. A caller for whom a flat ranking means "no information yet" (a
simulation before its first choice) says so where it calls.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def tied_ranks(
    x: ArrayLike, hint: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Ranks ``1..n`` of ``x``, ties given their average rank, and the order that sorts
    ``x``. ``hint``, an order that almost sorts ``x`` (the last one, for ratings that
    moved a little), makes the sort O(n): timsort is fast on nearly sorted runs."""
    x = np.asarray(x, np.float64)
    order = (
        np.argsort(x, kind="stable") if hint is None else hint[np.argsort(x[hint], kind="stable")]
    )
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    stops = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), np.float64)
    # the average of the 1-based ranks start+1 .. stop
    ranks[order] = np.repeat(0.5 * (starts + stops - 1) + 1.0, stops - starts)
    return ranks, order


def rankdata(x: ArrayLike) -> NDArray[np.float64]:
    """Ranks ``1..n``, ties given their average rank (scipy's ``rankdata``)."""
    return tied_ranks(x)[0]


def ranks_from_top(scores: ArrayLike) -> NDArray[np.int64]:
    """1 = the highest score; equal scores share the best of their ranks (a leaderboard's
    "1, 2, 2, 4", scipy's ``rankdata(-x, method="min")``)."""
    scores = np.asarray(scores, np.float64)
    return len(scores) - np.searchsorted(np.sort(scores), scores, side="right") + 1


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson's r; NaN when either input is constant or there are fewer than two values
    (undefined, not zero: a metric that cannot be measured is left out, not reported)."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if len(x) < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    # einsum, not BLAS dot: one thread, so no thread pool to wake for every call
    denom = np.sqrt(np.einsum("i,i->", x, x) * np.einsum("i,i->", y, y))
    return float(np.einsum("i,i->", x, y) / denom) if denom > 0 else float("nan")


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman's rho: Pearson's r of the ranks (ties averaged); NaN when either input is
    constant or there are fewer than two values."""
    return pearson(rankdata(a), rankdata(b))


def pairwise_order_agreement(a: ArrayLike, b: ArrayLike, block: int = 1024) -> float:
    """The share of pairs that two orderings put the same way, among the pairs neither
    ties: ``C / (C + D)`` for C concordant and D discordant pairs, which is Goodman and
    Kruskal's gamma as a share, ``(1 + gamma) / 2``; NaN when no pair is untied in both.

    O(n log n)-ish, as in Knight's algorithm for Kendall's tau (Knight 1966): sorted by
    ``(a, b)``, the discordant pairs are the inversions of ``b`` (an earlier pair tied in
    ``a`` never inverts), counted a ``block`` at a time against the sorted ones before it.
    """
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    n = len(x)
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    discordant = 0
    before = np.zeros(0, np.float64)
    for start in range(0, n, block):
        chunk = y[start : start + block]
        discordant += int((len(before) - np.searchsorted(before, chunk, side="right")).sum())
        discordant += int(np.triu(chunk[:, None] > chunk[None, :], 1).sum())
        before = np.sort(np.concatenate([before, chunk]))
    untied = n * (n - 1) // 2 - _tied_pairs(x) - _tied_pairs(y) + _tied_pairs(x, y)
    return float((untied - discordant) / untied) if untied > 0 else float("nan")


def _tied_pairs(*keys: NDArray[np.float64]) -> int:
    """Pairs equal in every one of ``keys``."""
    _, counts = np.unique(np.stack(keys, axis=1), axis=0, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def zscore(x: ArrayLike) -> NDArray[np.float64]:
    """``(x - mean) / sd`` over the values that are not NaN (a NaN stays NaN), so scores
    on different scales can be compared; all zeros, NaNs included, when the values do not
    vary or all are NaN: then no value stands out from the others."""
    x = np.asarray(x, np.float64)
    if np.all(np.isnan(x)):  # nanstd would warn, and there is nothing to scale
        return np.zeros_like(x)
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / sd if sd > 0 else np.zeros_like(x)

"""Derive the database's Elo from the stored comparisons: the ratings are never the
source of truth, the comparisons are."""

from __future__ import annotations

import numpy as np

from tastemaker.rating import elo
from tastemaker.storage.store import Store


def replay_elo(store: Store) -> tuple[dict[int, float], dict[int, int]]:
    """Elo and comparison counts per image id, from each image's prior plus every
    comparison not withdrawn, in the order they were made, each with its own K."""
    priors = store.priors()
    ids = np.array(sorted(priors), np.int64)
    index = {int(i): n for n, i in enumerate(ids)}
    winners: list[int] = []
    losers: list[int] = []
    ks: list[float] = []
    counts = np.zeros(len(ids), np.int64)
    for c in store.comparisons():
        shown = [index[i] for i in c.shown]
        counts[shown] += 1
        for w, lo in elo.pairwise(shown, c.shown.index(c.winner_id)):
            winners.append(w)
            losers.append(lo)
            ks.append(c.k)
    ratings = elo.replay([priors[int(i)] for i in ids], winners, losers, ks)
    return (
        {int(i): float(r) for i, r in zip(ids, ratings, strict=True)},
        {int(i): int(n) for i, n in zip(ids, counts, strict=True)},
    )


def recompute_elo(store: Store) -> None:
    """Rewrite the stored ratings from the comparisons (after an undo or new priors)."""
    with store.atomic():
        store.set_ratings(*replay_elo(store))

"""Derive ratings from the stored comparisons: the classic Elo replayed in order, or a
Bradley–Terry fit over all of them. The ratings are never the source of truth; the
comparisons are."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from tastemaker.errors import SettingError
from tastemaker.rating import bradley_terry, elo, speed
from tastemaker.storage.store import Store

RATINGS = ("elo", "bt")
ELO_TO_BT = math.log(10)  # Elo's P = 1/(1+10^-d) is a logistic in d * ln 10


@dataclass(frozen=True)
class Outcomes:
    """Every pairwise outcome of the choices not withdrawn, in the order made, as
    indices into ``ids`` (all images, missing ones too)."""

    ids: np.ndarray
    winners: np.ndarray
    losers: np.ndarray
    k: np.ndarray  # the Elo K each was applied with (K times the speed weight)
    weights: np.ndarray  # the response-time weight of each (1 unless weighting by speed)
    counts: np.ndarray  # comparisons each image was shown in
    priors: np.ndarray  # starting scores, Elo scale


def outcomes(store: Store) -> Outcomes:
    with store.snapshot():  # every image a choice showed has a prior, even mid-scan
        priors = store.priors()
        choices = store.comparisons()
    ids = np.array(sorted(priors), np.int64)
    index = {int(i): n for n, i in enumerate(ids)}
    winners: list[int] = []
    losers: list[int] = []
    weights: list[float] = []
    ks: list[float] = []
    counts = np.zeros(len(ids), np.int64)
    for c in choices:
        shown = [index[i] for i in c.shown]
        counts[shown] += 1
        k = c.k if math.isfinite(c.k) else elo.K  # older versions stored `--k inf`
        for w, lo in elo.pairwise(shown, c.shown.index(c.winner_id)):
            winners.append(w)
            losers.append(lo)
            ks.append(k * c.weight)
            weights.append(c.weight)
    return Outcomes(
        ids,
        np.array(winners, np.int64),
        np.array(losers, np.int64),
        np.array(ks, np.float64),
        np.array(weights, np.float64),
        counts,
        np.array([priors[int(i)] for i in ids], np.float64),
    )


def replay_elo(store: Store) -> tuple[dict[int, float], dict[int, int]]:
    """Elo and comparison counts per image id, from each image's prior plus every
    comparison not withdrawn, in the order they were made, each with its own K."""
    o = outcomes(store)
    ratings = elo.replay(o.priors, o.winners, o.losers, o.k)
    return (
        {int(i): float(r) for i, r in zip(o.ids, ratings, strict=True)},
        {int(i): int(n) for i, n in zip(o.ids, o.counts, strict=True)},
    )


def recompute_elo(store: Store) -> None:
    """Rewrite the stored ratings from the comparisons (after an undo or new priors)."""
    with store.atomic():
        store.set_ratings(*replay_elo(store))


@dataclass(frozen=True)
class BTRatings:
    ratings: dict[int, float]  # by image id, natural-log scale: P(i > j) = sigmoid(ri - rj)
    sd: dict[int, float]  # the Laplace uncertainty of each


def fit_bt(store: Store) -> BTRatings:
    """Bradley–Terry ratings of every image from all comparisons not withdrawn, each
    pairwise outcome of a choice counted once; priors (imported or from a model) are the
    prior means, converted from Elo's log10 scale. Raises
    :class:`~tastemaker.rating.bradley_terry.FitFailed`: what to do instead depends on
    the caller (:func:`chosen_by_setting`)."""
    o = outcomes(store)
    result = bt_of(o)
    ids = o.ids
    return BTRatings(
        {int(i): float(r) for i, r in zip(ids, result.ratings, strict=True)},
        {int(i): float(s) for i, s in zip(ids, result.sd, strict=True)},
    )


def bt_of(o: Outcomes, keep: np.ndarray | None = None) -> bradley_terry.BTResult:
    """The Bradley–Terry fit of ``o``'s images (all of them, in ``o.ids`` order) from
    the outcomes ``keep`` marks (all if None); :func:`fit_bt` says how."""
    keep = np.ones(len(o.winners), bool) if keep is None else keep
    return bradley_terry.fit(
        len(o.ids),
        o.winners[keep],
        o.losers[keep],
        weights=o.weights[keep],
        prior_mean=o.priors * ELO_TO_BT,
    )


@contextmanager
def chosen_by_setting() -> Iterator[None]:
    """Where the person chose Bradley–Terry by the ``ratings`` setting, a failed fit is
    an error that names the way back to the classic Elo."""
    try:
        yield
    except bradley_terry.FitFailed as e:
        raise SettingError(
            "ratings", f"{e}; the classic Elo scores are there meanwhile: {{setting}} elo"
        ) from None


def database_scores(store: Store, ratings: str = "elo") -> dict[int, float]:
    """Every image's database score: the stored Elo, or a fresh Bradley–Terry fit."""
    if ratings == "elo":
        return {r.image_id: r.elo for r in store.ratings(status=None)}
    if ratings == "bt":
        with chosen_by_setting():
            return fit_bt(store).ratings
    raise SettingError("ratings", f"{{setting}} is one of {', '.join(RATINGS)}, not {ratings!r}")


def reweigh(store: Store, by_speed: bool, typical: float | None = None) -> float | None:
    """Give every choice its response-time weight (or 1 when ``by_speed`` is off), from
    the raw response times, and replay the Elo; returns the typical time used (ms)."""
    with store.atomic():  # no choice made between the read and the rewrite
        choices = store.comparisons()
        times = [c.response_ms for c in choices]
        typical = (typical or speed.typical_ms(times)) if by_speed else None
        weights = speed.speed_weights(times, typical) if by_speed else np.ones(len(choices))
        store.set_weights({c.id: float(w) for c, w in zip(choices, weights, strict=True)})
        recompute_elo(store)
    return typical

"""Which images to show next.

The classic rule: images seen less are shown more, each drawn with weight
``(1 - lcw)^comparisons`` (``lcw = 0.3``; 0 makes it uniform). A set of ``k`` distinct
images is drawn by weighted sampling without replacement, vectorised with the
Gumbel-top-k trick (Vieira 2014; Kool et al. 2019): ``argtopk(log w + Gumbel)`` draws
the same sets as drawing one image at a time in proportion to ``w``. Working in log
space keeps ``0.7^500`` from underflowing, and one pick over 100,000 images costs a
couple of milliseconds.

:func:`pick_active` is the Bradley–Terry alternative: the first image never-seen while
any is, then partners drawn for the expected information of their outcome (close
ratings, high uncertainty), still in ``O(n)`` array operations per pick.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tastemaker.rating.ranks import zscore

LCW = 0.3


def log_weights(counts: NDArray[np.integer], lcw: float = LCW) -> NDArray[np.float64]:
    """``log((1 - lcw)^counts)``, the classic weighting, in log space."""
    if not 0.0 <= lcw < 1.0:
        raise ValueError(f"lcw must be in [0, 1), got {lcw}")
    return np.asarray(counts, np.float64) * np.log1p(-lcw)


def pick(log_w: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """``k`` distinct indices drawn in proportion to ``exp(log_w)`` without replacement,
    in draw order. Entries of ``-inf`` are never drawn."""
    available = int(np.isfinite(log_w).sum())
    if available < k:
        raise ValueError(f"need at least {k} images to choose from, have {available}")
    keys = log_w + rng.gumbel(size=log_w.shape)
    top = np.argpartition(keys, -k)[-k:]
    return top[np.argsort(-keys[top])].astype(np.int64)


TEMPERATURE = 0.3  # see pick_active; measured in benchmarks/rating_efficiency.py


def log_expected_information(
    r_first: float, sd_first: float, ratings: NDArray[np.float64], sd: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``log(p (1 - p) v)``: the expected information of comparing one image with each
    image, for a Bradley–Terry posterior ``r ~ N(ratings, sd^2)`` (natural-log scale).

    One outcome carries Fisher information ``p (1 - p)`` about ``r_i - r_j``; times the
    variance of that difference, ``v = sd_i^2 + sd_j^2``, it is the first-order expected
    drop of that variance — large for close, uncertain pairs (Glickman & Jensen 2005;
    Chen et al. 2013). ``p = sigmoid(x)``, ``x = d / sqrt(1 + pi v / 8)``, is the
    predictive win probability (MacKay 1992's probit approximation), so an uncertain gap
    counts as closer than it looks. In log space, ``log p(1 - p) = -|x| - 2 log(1 +
    e^-|x|)``, nothing underflows.
    """
    v = sd_first * sd_first + sd * sd
    ax = np.abs(r_first - ratings) / np.sqrt(1.0 + (np.pi / 8.0) * v)
    return np.log(v) - ax - 2.0 * np.log1p(np.exp(-ax))


def _draw(log_w: NDArray[np.float64], rng: np.random.Generator) -> int:
    """One index drawn with probability proportional to ``exp(log_w)``, by inverting the
    cumulative sum (one uniform and one ``exp`` per entry: cheaper than Gumbel keys)."""
    top = np.max(log_w)
    if not np.isfinite(top):
        raise ValueError("no image left to choose from")
    cdf = np.cumsum(np.exp(log_w - top))
    return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))


def pick_active(
    ratings: NDArray[np.float64],
    sd: NDArray[np.float64],
    counts: NDArray[np.integer],
    k: int,
    rng: np.random.Generator,
    lcw: float = LCW,
    temperature: float = TEMPERATURE,
    extra_log_w: NDArray[np.float64] | None = None,
) -> NDArray[np.int64]:
    """``k`` distinct images to show next, chosen for what their outcome will teach
    (``ratings`` and ``sd`` from :func:`tastemaker.rating.bradley_terry.fit`).

    The first image is drawn from the never-seen images while there are any (so every
    image is in the ranking after ``n`` choices), else from all, with the classic weight
    ``(1 - lcw)^counts`` times ``exp(extra_log_w)``: further log-weights of each image,
    such as :func:`controversy_log_weights` (none: the never-seen are drawn uniformly).
    Each partner is drawn with probability proportional to ``info^(1/temperature)``
    times that weight, ``info`` the mean
    :func:`log_expected_information` with the images already in the set. A low
    temperature approaches the greedy choice, 1 is proportional sampling; the randomness
    keeps the person from seeing the same pairs and the comparison graph well connected
    (comparing only neighbours lets distant parts of the ranking drift apart).
    ``benchmarks/rating_efficiency.py`` chose 0.3: 0.1 and 0.03 did no better, 1 no
    better than the classic random pairs. Each draw is a few array passes over all
    images, no loop over them.
    """
    ratings = np.asarray(ratings, np.float64)
    sd = np.asarray(sd, np.float64)
    counts = np.asarray(counts)
    n = len(ratings)
    if not (sd.shape == counts.shape == (n,)):
        raise ValueError(f"ratings, sd and counts must have one entry per image ({n})")
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError("sd must be finite and > 0")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 2 <= k <= n:
        raise ValueError(f"need at least {k} images to choose from, have {n}")
    log_w = log_weights(counts, lcw)
    if extra_log_w is not None:
        extra_log_w = np.asarray(extra_log_w, np.float64)
        if extra_log_w.shape != (n,) or not np.all(np.isfinite(extra_log_w)):
            raise ValueError(f"extra_log_w must be finite, one entry per image ({n})")
        log_w = log_w + extra_log_w
    unseen = counts == 0
    chosen = [_draw(np.where(unseen, log_w, -np.inf) if unseen.any() else log_w, rng)]
    log_total = np.full(n, -np.inf)  # log of the summed information with the set so far
    for size in range(1, k):
        last = chosen[-1]
        log_info = log_expected_information(ratings[last], sd[last], ratings, sd)
        log_total = log_info if size == 1 else np.logaddexp(log_total, log_info)
        score = (log_total - np.log(size)) / temperature + log_w
        score[chosen] = -np.inf
        chosen.append(_draw(score, rng))
    return np.asarray(chosen, np.int64)


def controversy_log_weights(
    model_scores: NDArray[np.float64], database_scores: NDArray[np.float64], cw: float
) -> NDArray[np.float64]:
    """``log((1 + cw)^|z(model) - z(database)|)``, the classic controversy weighting: images
    on which the model and the database disagree (both standardised to mean 0, sd 1) are
    shown more. NaN model scores (images the model has not scored) get no extra weight."""
    gap = np.abs(zscore(model_scores) - zscore(database_scores))
    return np.nan_to_num(gap, nan=0.0) * np.log1p(cw)


def unsure_log_weights(uncertainty: NDArray[np.float64], weight: float) -> NDArray[np.float64]:
    """``weight · log(u / median u)``: images the model is least sure of (its score's
    standard deviation ``u``, large far from anything rated) are shown more, those it is
    sure of less. NaN (an image the model has not scored, or a model without an
    uncertainty) gets no extra weight."""
    u = np.asarray(uncertainty, np.float64)
    known = np.isfinite(u) & (u > 0)
    out = np.zeros(len(u))
    if known.any():
        out[known] = weight * np.log(u[known] / np.median(u[known]))
    return out

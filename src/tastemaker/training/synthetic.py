"""A taste with a known answer, for tests, benchmarks and docs.

Embeddings are standard normal; the true score is a hidden direction plus a
non-linearity, ``f(x) = x·u + bend * (x·v)^2`` with unit vectors ``u`` and ``v``; the
database scores are ``f`` itself, and the person compares random pairs, choosing the
better one with probability ``sigmoid(sharpness * (f_a - f_b))`` (always the better one
when ``sharpness`` is None). The split is :func:`~tastemaker.training.split.heldout_mask`
on made-up content hashes.
"""

from __future__ import annotations

import numpy as np

from tastemaker.training.data import TrainingData
from tastemaker.training.split import heldout_mask


def synthetic_taste(
    n: int = 600,
    d: int = 32,
    choices_per_image: float = 5.0,
    bend: float = 0.3,
    sharpness: float | None = None,
    share: float = 0.25,
    seed: int = 0,
) -> TrainingData:
    """A :class:`TrainingData` whose scores are a known function of the embeddings."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    u, v = rng.normal(size=(2, d))
    u /= np.linalg.norm(u)
    v /= np.linalg.norm(v)
    f = x @ u + bend * (x @ v) ** 2
    m = int(n * choices_per_image)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n  # never a itself
    if sharpness is None:
        a_wins = f[a] > f[b]
    else:
        a_wins = rng.random(m) < 1.0 / (1.0 + np.exp(-sharpness * (f[a] - f[b])))
    winners = np.where(a_wins, a, b)
    losers = np.where(a_wins, b, a)
    heldout = heldout_mask([f"image-{seed}-{i}" for i in range(n)], share)
    return TrainingData(x=x, scores=f, winners=winners, losers=losers, heldout=heldout)

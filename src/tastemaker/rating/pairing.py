"""Which images to show next.

The seed's rule: images seen less are shown more, each drawn with weight
``(1 - lcw)^comparisons`` (``lcw = 0.3``; 0 makes it uniform). A set of ``k`` distinct
images is drawn by weighted sampling without replacement, vectorised with the
Gumbel-top-k trick (Vieira 2014; Kool et al. 2019): ``argtopk(log w + Gumbel)`` draws
the same sets as drawing one image at a time in proportion to ``w``. Working in log
space keeps ``0.7^500`` from underflowing, and one pick over 100,000 images costs a
couple of milliseconds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

LCW = 0.3


def log_weights(counts: NDArray[np.integer], lcw: float = LCW) -> NDArray[np.float64]:
    """``log((1 - lcw)^counts)``, the seed's weighting, in log space."""
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

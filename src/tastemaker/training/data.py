"""What training learns from: arrays only (the caller assembles them from the store)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainingData:
    """Embeddings, their database scores, the person's raw choices, and the split.

    ``x`` (n, d) float32 embeddings, one row per image; ``scores`` (n,) database scores
    (Elo or Bradley–Terry); ``winners``/``losers`` (m,) indices into ``x``, one pairwise
    outcome each (a choice among k images gives k - 1 outcomes); ``weights`` (m,) per
    outcome (ones by default); ``heldout`` (n,) True for held-out images (all False by
    default: nothing held out, so no early stopping and no held-out metrics).
    Arrays are converted to those dtypes and validated on creation.
    """

    x: np.ndarray
    scores: np.ndarray
    winners: np.ndarray
    losers: np.ndarray
    # None stands for the default above; __post_init__ always leaves an array
    weights: np.ndarray = None  # type: ignore[assignment]
    heldout: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # copies, made read-only: the data cannot change under a training run; the
        # embeddings of another TrainingData are shared (the refit's are the split's)
        x = self.x if _frozen(self.x) else np.array(self.x, dtype=np.float32, order="C")
        n = len(x)
        scores = np.array(self.scores, dtype=np.float64)
        winners = np.array(self.winners, dtype=np.int64).reshape(-1)
        losers = np.array(self.losers, dtype=np.int64).reshape(-1)
        weights = (
            np.ones(len(winners), np.float64)
            if self.weights is None
            else np.array(self.weights, dtype=np.float64).reshape(-1)
        )
        heldout = np.zeros(n, bool) if self.heldout is None else np.array(self.heldout, dtype=bool)
        if x.ndim != 2:
            raise ValueError(f"x must be (n, d), not {x.shape}")
        if scores.shape != (n,) or heldout.shape != (n,):
            raise ValueError("scores and heldout need one value per row of x")
        if not (len(winners) == len(losers) == len(weights)):
            raise ValueError("winners, losers and weights need the same length")
        if len(winners) and (
            min(winners.min(), losers.min()) < 0 or max(winners.max(), losers.max()) >= n
        ):
            raise ValueError("winners and losers must index rows of x")
        if not np.all(np.isfinite(x)) or not np.all(np.isfinite(scores)):
            raise ValueError("x and scores must be finite")
        for name, value in (
            ("x", x),
            ("scores", scores),
            ("winners", winners),
            ("losers", losers),
            ("weights", weights),
            ("heldout", heldout),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    @property
    def train(self) -> np.ndarray:
        """Mask of the training images."""
        return ~self.heldout

    def comparisons_within(self, mask: np.ndarray) -> np.ndarray:
        """Mask of the outcomes whose two images are both in ``mask``."""
        return mask[self.winners] & mask[self.losers]

    @property
    def heldout_outcomes(self) -> np.ndarray:
        """Mask of the outcomes that judge a model fitted on the training images: those
        with a held-out image in them. Between two held-out images, or between a
        training and a held-out image: training saw neither the held-out image nor the
        outcome, so a model's order of the two is a prediction."""
        return self.heldout[self.winners] | self.heldout[self.losers]


def _frozen(x: object) -> bool:
    """A float32 array that owns its memory and can no longer be written: a
    :class:`TrainingData`'s own, which nothing can change."""
    return (
        isinstance(x, np.ndarray)
        and x.dtype == np.float32
        and x.base is None
        and not x.flags.writeable
        and x.flags.c_contiguous
    )

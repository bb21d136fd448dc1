"""The prior rule: starting scores for never-compared images from a model's scores (the
classic scorer's aesthetic_score_from_model), so rating begins from a good guess. Pure: the
caller reads the scores from the store and writes the result back."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SD_WITHOUT_DATA = 0.5


def prior_scores(
    model_scores: ArrayLike, compared: ArrayLike, database_scores: ArrayLike
) -> NDArray[np.float64]:
    """The classic rule, for the images not yet compared (``~compared``): every image's
    model score is shifted so their mean is zero; the new images' are squashed with tanh
    and scaled to the standard deviation of the compared images' database scores (0.5
    when fewer than two were compared)."""
    is_compared = np.asarray(compared, bool)
    scores = np.asarray(model_scores, np.float64)
    shifted = scores - scores.mean()
    existing = np.asarray(database_scores, np.float64)[is_compared]
    target = float(np.std(existing)) if existing.size >= 2 else SD_WITHOUT_DATA
    squashed = np.tanh(shifted[~is_compared])
    spread = float(np.std(squashed))
    return squashed * (target / spread) if spread > 0 else squashed

"""Starting scores for never-compared images from a model (the seed's
aesthetic_score_from_model), so the next A/B session begins from a good guess."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tastemaker.model import TasteModel
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.library import Library
from tastemaker.workflows.ratings import recompute_elo
from tastemaker.workflows.score import library_model_scores

SD_WITHOUT_DATA = 0.5


def prior_scores(
    model_scores: np.ndarray, compared: np.ndarray, database_scores: np.ndarray
) -> np.ndarray:
    """The seed's rule, for the images not yet compared (``~compared``): every image's
    model score is shifted so their mean is zero; the new images' are squashed with tanh
    and scaled to the standard deviation of the compared images' database scores (0.5
    when fewer than two were compared)."""
    shifted = np.asarray(model_scores, np.float64) - np.mean(model_scores)
    existing = np.asarray(database_scores, np.float64)[compared]
    target = float(np.std(existing)) if existing.size >= 2 else SD_WITHOUT_DATA
    squashed = np.tanh(shifted[~compared])
    spread = float(np.std(squashed))
    return squashed * (target / spread) if spread > 0 else squashed


@dataclass(frozen=True)
class PriorReport:
    given: int  # never-compared images that got a starting score
    compared: int  # images left as their comparisons made them
    sd: float  # spread the new scores were given
    failures: list[tuple[str, str]]


def apply_model_prior(
    library: Library, model: TasteModel, name: str, progress: Progress = no_progress
) -> PriorReport:
    """Give every never-compared present image its model-based starting score."""
    scored = library_model_scores(library, model, progress)
    ratings = {r.image_id: r for r in library.store.ratings()}
    rows = [ratings[i] for i in scored.scores]
    compared = np.array([r.comparisons + r.prior_comparisons > 0 for r in rows])
    elo = np.array([r.elo for r in rows])
    new = prior_scores(np.array(list(scored.scores.values())), compared, elo)
    ids = np.array(list(scored.scores), np.int64)[~compared]
    with library.store.atomic():
        library.store.set_priors(
            {int(i): (float(v), 0) for i, v in zip(ids, new, strict=True)}, f"model:{name}"
        )
        recompute_elo(library.store)
    return PriorReport(
        len(ids), int(compared.sum()), float(np.std(new)) if len(new) else 0.0, scored.failures
    )

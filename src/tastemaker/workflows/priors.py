"""Starting scores for never-compared images from a model (the classic scorer's
aesthetic_score_from_model), so the next A/B session begins from a good guess."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tastemaker.model import TasteModel
from tastemaker.progress import Progress, no_progress
from tastemaker.rating.prior import prior_scores
from tastemaker.storage.library import Library
from tastemaker.storage.store import Store
from tastemaker.workflows.ratings import recompute_elo
from tastemaker.workflows.score import library_model_scores


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
    new = starting_scores(library.store, scored.scores)
    set_starting_scores(library.store, new, f"model:{name}")
    return PriorReport(
        len(new),
        len(scored.scores) - len(new),
        float(np.std(list(new.values()))) if new else 0.0,
        scored.failures,
    )


def starting_scores(store: Store, model_scores: Mapping[int, float]) -> dict[int, float]:
    """The prior rule's starting score of each never-compared image among those the
    model scored (by image id); the compared ones set the spread and keep their own."""
    if not model_scores:
        return {}
    ratings = {r.image_id: r for r in store.ratings()}
    ids = list(model_scores)
    compared = np.array([ratings[i].comparisons + ratings[i].prior_comparisons > 0 for i in ids])
    elo = np.array([ratings[i].elo for i in ids])
    new = prior_scores(np.array([model_scores[i] for i in ids]), compared, elo)
    fresh = np.array(ids, np.int64)[~compared].tolist()
    return dict(zip(fresh, new.tolist(), strict=True))


def set_starting_scores(store: Store, scores: Mapping[int, float], source: str) -> None:
    """Record ``scores`` as the images' starting scores (from ``source``) and replay the
    Elo from them, in one transaction."""
    with store.atomic():
        store.set_priors({i: (v, 0) for i, v in scores.items()}, source)
        recompute_elo(store)

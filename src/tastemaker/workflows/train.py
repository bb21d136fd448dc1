"""Train a model of the person's taste from a library: embeddings (cached), the
database's scores and the raw choices, a metaparameter search, the best model saved in
the library and registered in its store.

The CLI reads :class:`TrainSettings`' defaults when it starts, so this module imports
torch and Optuna only where training needs them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.features.layers import LayerChoice
from tastemaker.features.registry import DEFAULT_EXTRACTOR, resolve
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.library import Library
from tastemaker.workflows.ratings import RATINGS, database_scores, outcomes

if TYPE_CHECKING:
    from tastemaker.model import TasteModel
    from tastemaker.training.data import TrainingData
    from tastemaker.workflows.embeddings import LibraryEmbeddings

EXTRACTOR_SETTING = "extractor"  # a library's own default extractor (the demo's)
MAX_SEED = 2**31  # the samplers' generators take 32-bit seeds, moved on by the trials


@dataclass(frozen=True)
class TrainSettings:
    """How to train; every value is checked when the settings are made, before the
    library is scanned or embedded."""

    extractor: str | None = None  # None: the library's default, else CLIP ViT-L/14
    layers: LayerChoice = field(default_factory=LayerChoice)
    loss: str = "ranking"  # ranking (the seed's), mse, or choices (the raw choices)
    ratings: str = "elo"
    trials: int = 20
    sampler: str = "tpe"
    heldout: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        from tastemaker.training.losses import LOSSES
        from tastemaker.training.search import SAMPLERS, check_sampler

        for setting, value, names in (
            ("loss", self.loss, tuple(LOSSES)),
            ("ratings", self.ratings, RATINGS),
            ("sampler", self.sampler, SAMPLERS),
        ):
            if value not in names:
                raise SettingError(
                    setting, f"{{setting}} is one of {', '.join(names)}, not {value!r}"
                )
        check_sampler(self.sampler)  # its optional package, which the search needs
        if self.trials < 1:
            raise SettingError("trials", f"{{setting}} must be at least 1, not {self.trials}")
        if not 0.05 <= self.heldout <= 0.5:
            raise SettingError(
                "heldout", f"{{setting}} is a share from 0.05 to 0.5, not {self.heldout}"
            )
        if not 0 <= self.seed < MAX_SEED:
            raise SettingError(
                "seed", f"{{setting}} must be from 0 to {MAX_SEED - 1}, not {self.seed}"
            )


@dataclass(frozen=True)
class Trained:
    model: TasteModel
    path: Path
    model_id: int
    embedded: LibraryEmbeddings
    trials: int  # trials in the study so far (a search resumes)
    storage: str  # the Optuna storage that keeps the search history


def default_extractor(library: Library) -> str:
    return library.store.setting(EXTRACTOR_SETTING) or DEFAULT_EXTRACTOR


def search_storage(library: Library) -> str:
    """The Optuna storage of a library's searches, kept beside its store (a search
    resumes there; optuna-dashboard reads it)."""
    return f"sqlite:///{library.store_dir / 'optuna.db'}"


def _nothing_to_learn(library: Library) -> TastemakerError:
    return TastemakerError(
        f"{library.root}: no choices to learn from yet; rate first: tastemaker rate {library.root}"
    )


def training_data(
    library: Library, embedded: LibraryEmbeddings, heldout: float = 0.25, ratings: str = "elo"
) -> TrainingData:
    """The arrays training learns from: one row per embedded image, its database score
    (Elo or Bradley–Terry), the person's pairwise outcomes between embedded images, and a
    stable held-out split."""
    from tastemaker.training.data import TrainingData
    from tastemaker.training.split import heldout_mask

    o = outcomes(library.store)
    row = np.full(len(o.ids), -1)
    row[np.searchsorted(o.ids, embedded.image_ids)] = np.arange(len(embedded.image_ids))
    winners, losers = row[o.winners], row[o.losers]
    keep = (winners >= 0) & (losers >= 0)
    if not keep.any():
        raise _nothing_to_learn(library)
    scores = database_scores(library.store, ratings)
    return TrainingData(
        x=embedded.x,
        scores=np.array([scores[int(i)] for i in embedded.image_ids]),
        winners=winners[keep],
        losers=losers[keep],
        weights=o.weights[keep],
        heldout=heldout_mask(embedded.hashes, heldout),
    )


def train_library(
    library: Library,
    settings: TrainSettings | None = None,
    output: Path | None = None,
    progress: Progress = no_progress,
) -> Trained:
    """Embed, search, save the best model (in the library unless ``output``) and
    register it with its held-out metrics."""
    from tastemaker.training.calibration import calibrate
    from tastemaker.training.loop import TrainParams
    from tastemaker.training.search import search
    from tastemaker.workflows.embeddings import library_embeddings

    settings = settings or TrainSettings()
    extractor = settings.extractor or default_extractor(library)
    resolve(extractor)  # all that can be known before the long embedding
    store = library.store
    if store.images("present") and store.last_comparison() is None:
        raise _nothing_to_learn(library)
    storage = search_storage(library)
    embedded = library_embeddings(library, extractor, settings.layers, progress)
    data = training_data(library, embedded, settings.heldout, settings.ratings)
    study = f"{extractor}|{settings.layers.key}|{settings.loss}|{settings.ratings}"
    result = search(
        data,
        settings.trials,
        {
            "extractor": extractor,
            "layers": settings.layers.layers,
            "layer_mode": settings.layers.mode,
            "ratings": settings.ratings,
        },
        base=TrainParams(loss=settings.loss),
        sampler=settings.sampler,
        storage=storage,
        study_name=study,
        seed=settings.seed,
        progress=progress,
    )
    model = result.best.model
    calibration = calibrate(model.score_embeddings(data.x), data)
    model.meta = dataclasses.replace(model.meta, calibration=calibration)
    if output is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", extractor.rsplit("/", 1)[-1]).strip("-")
        output = library.store_dir / "models" / f"{stamp}-{slug}-{settings.loss}.safetensors"
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    model_id = library.store.add_model(
        str(output.resolve()), extractor, settings.layers.key, dict(model.meta.metrics)
    )
    return Trained(model, output, model_id, embedded, len(result.study.trials), storage)

"""Train a model of the person's taste from a library: embeddings (cached), the
ratings and the raw choices, a learner chosen and measured on a held-out split and
refitted on everything, the model saved in the library and registered in its store.

The CLI reads :class:`TrainSettings`' defaults when it starts, so this module imports
torch and Optuna only where training needs them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.features.layers import LayerChoice
from tastemaker.features.registry import DEFAULT_EXTRACTOR, resolve
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.library import Library
from tastemaker.storage.store import DEFAULT_PROFILE
from tastemaker.workflows.ratings import (
    RATINGS,
    Outcomes,
    bt_of,
    chosen_by_setting,
    database_scores,
    outcomes,
)

if TYPE_CHECKING:
    from tastemaker.model import TasteModel
    from tastemaker.training.data import TrainingData
    from tastemaker.training.learners import LearnerSettings
    from tastemaker.workflows.embeddings import LibraryEmbeddings

EXTRACTOR_SETTING = "extractor"  # a library's own default extractor (the demo's)
LAYERS_SETTING = "layers"  # and its default layers, joined: "2,3,4"
MAX_SEED = 2**31  # the samplers' generators take 32-bit seeds, moved on by the trials


@dataclass(frozen=True)
class TrainSettings:
    """How to train; every value is checked when the settings are made, before the
    library is scanned or embedded."""

    extractor: str | None = None  # None: the library's default, else CLIP ViT-L/14
    layers: LayerChoice | None = None  # None: the library's default, else the final embedding
    learner: str = "kernel"  # kernel, or mlp (the seed's)
    loss: str | None = None  # the MLP's: ranking (the seed's, when None), mse, choices
    ratings: str = "bt"  # what the model learns: bt, or elo (the seed's)
    trials: int = 0  # the MLP's search; 0: one fit with the default metaparameters
    sampler: str = "tpe"
    heldout: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        from tastemaker.training.losses import LOSSES
        from tastemaker.training.search import SAMPLERS

        for setting, value, names in (
            ("loss", self.loss or "ranking", tuple(LOSSES)),
            ("ratings", self.ratings, RATINGS),
            ("sampler", self.sampler, SAMPLERS),
        ):
            if value not in names:
                raise SettingError(
                    setting, f"{{setting}} is one of {', '.join(names)}, not {value!r}"
                )
        self.learner_settings()  # the learner checks its own
        if not 0.05 <= self.heldout <= 0.5:
            raise SettingError(
                "heldout", f"{{setting}} is a share from 0.05 to 0.5, not {self.heldout}"
            )
        if not 0 <= self.seed < MAX_SEED:
            raise SettingError(
                "seed", f"{{setting}} must be from 0 to {MAX_SEED - 1}, not {self.seed}"
            )

    def learner_settings(self) -> LearnerSettings:
        from tastemaker.training.learners import LearnerSettings

        return LearnerSettings(self.learner, self.loss, self.trials, self.sampler, self.seed)


@dataclass(frozen=True)
class Trained:
    model: TasteModel
    path: Path
    model_id: int
    embedded: LibraryEmbeddings
    trials: int  # trials in the study so far (a search resumes); 0 without a search
    storage: str | None  # the Optuna storage that keeps the search history
    best_trial: int | None = None  # the search's trial whose settings the model has
    interrupted: bool = False  # the search was ended by Ctrl-C; the model is its best so far


def default_extractor(library: Library) -> str:
    return library.store.setting(EXTRACTOR_SETTING) or DEFAULT_EXTRACTOR


def default_layers(library: Library) -> LayerChoice:
    layers = library.store.setting(LAYERS_SETTING)
    return LayerChoice.parse(layers) if layers else LayerChoice()


def search_storage(library: Library) -> str:
    """The Optuna storage of a library's searches, kept beside its store (a search
    resumes there; optuna-dashboard reads it)."""
    return f"sqlite:///{library.store_dir / 'optuna.db'}"


def _nothing_to_learn(library: Library) -> TastemakerError:
    profile = "" if library.profile == DEFAULT_PROFILE else f" --profile {library.profile}"
    return TastemakerError(
        f"{library.root}: no choices to learn from yet; rate first: tastemaker rate "
        f"{library.root}{profile}"
    )


def check_training(
    library: Library, settings: TrainSettings, output: Path | None = None
) -> tuple[str, LayerChoice]:
    """Refuse, before the scan, what can be known wrong from the settings and the store
    alone: layers the extractor lacks (the registry knows them without loading it), a
    library with images but no choice yet, a models folder that is not one. Returns the
    extractor and layers to train on (the settings', else the library's)."""
    extractor = settings.extractor or default_extractor(library)
    layers = settings.layers or default_layers(library)
    resolve(extractor).check(layers)
    if library.store.images("present") and library.store.last_comparison() is None:
        raise _nothing_to_learn(library)
    models = library.models_dir
    if output is None and models.exists() and not models.is_dir():
        raise TastemakerError(
            f"{models}: a file where the library keeps its models; move it away, or save "
            "the model elsewhere"
        )
    return extractor, layers


def _check_enough(library: Library, settings: TrainSettings) -> None:
    """Refuse, before anything is embedded, choices too few for the learner, judged on
    the present images as if every one embeds (the learner checks again on those that
    did)."""
    from tastemaker.training.data import TrainingData
    from tastemaker.training.learners import check_enough
    from tastemaker.training.split import heldout_mask

    images = library.store.images("present")
    if not images:
        return  # library_embeddings says so
    o = outcomes(library.store)
    at = np.searchsorted(o.ids, [im.id for im in images])
    winners, losers, keep = _between(o, at)
    if not keep.any():
        raise _nothing_to_learn(library)
    outline = TrainingData(  # images, outcomes and split; no embeddings or ratings yet
        x=np.zeros((len(at), 0), np.float32),
        scores=np.zeros(len(at)),
        winners=winners[keep],
        losers=losers[keep],
        heldout=heldout_mask([im.hash for im in images], settings.heldout),
    )
    check_enough(outline, settings.learner_settings())


def _between(o: Outcomes, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outcomes of ``o`` as rows of the images at ``at`` in ``o.ids`` (-1 for an
    image not among them), and the mask of those between two of them."""
    row = np.full(len(o.ids), -1)
    row[at] = np.arange(len(at))
    winners, losers = row[o.winners], row[o.losers]
    return winners, losers, (winners >= 0) & (losers >= 0)


def training_sets(
    library: Library, embedded: LibraryEmbeddings, heldout: float = 0.25, ratings: str = "bt"
) -> tuple[TrainingData, TrainingData]:
    """What training learns from, read from ``library``'s store: the person's outcomes
    and ratings for the ``embedded`` images, a stable held-out share of them
    (:func:`split_and_full` says how)."""
    from tastemaker.training.split import heldout_mask

    o = outcomes(library.store)
    at = np.searchsorted(o.ids, embedded.image_ids)  # each embedded image in o.ids
    elo = None
    if ratings == "elo":
        scores = database_scores(library.store, "elo")
        elo = np.array([scores[int(i)] for i in embedded.image_ids])
    held = heldout_mask(embedded.hashes, heldout)
    split, full = split_and_full(o, at, embedded.x, held, elo)
    if not len(full.winners):
        raise _nothing_to_learn(library)
    return split, full


def split_and_full(
    o: Outcomes,
    at: np.ndarray,
    x: np.ndarray,
    held: np.ndarray,
    elo: np.ndarray | None = None,
) -> tuple[TrainingData, TrainingData]:
    """The training data of the images at ``at`` in ``o.ids`` (embeddings ``x``, one row
    each): the outcomes between two of them, and ratings — for the split (``held``
    images held out) and for the refit on everything. Arrays only, so that benchmarks
    build exactly what ``train`` learns from.

    Bradley–Terry ratings of the split's training images are fitted without the
    outcomes that involve a held-out image, so the held-out figures judge outcomes the
    model never learnt from; the held-out images and the refit get the fit of every
    outcome. The seed's Elo (``elo``, the database's, one per row) is the same for both,
    as the seed had it."""
    from tastemaker.training.data import TrainingData

    winners, losers, keep = _between(o, at)
    if elo is not None:
        full = split = elo
    else:
        held_o = np.zeros(len(o.ids), bool)
        held_o[at] = held
        with chosen_by_setting():
            full = bt_of(o).ratings[at]
            within_train = bt_of(o, ~(held_o[o.winners] | held_o[o.losers])).ratings[at]
        split = np.where(held, full, within_train)

    split_data = TrainingData(
        x=x,
        scores=split,
        winners=winners[keep],
        losers=losers[keep],
        weights=o.weights[keep],
        heldout=held,
    )
    return split_data, replace(split_data, scores=full, heldout=np.zeros_like(held))


def train_library(
    library: Library,
    settings: TrainSettings | None = None,
    output: Path | None = None,
    progress: Progress = no_progress,
) -> Trained:
    """Embed, choose the learner's settings on a split and measure them, refit on every
    rated image, save the model (in the library unless ``output``) and register it with
    its held-out metrics."""
    from tastemaker.training.learners import learn
    from tastemaker.workflows.embeddings import library_embeddings

    settings = settings or TrainSettings()
    extractor, layers = check_training(library, settings, output)
    _check_enough(library, settings)  # all that can be known before the long embedding
    storage = search_storage(library) if settings.trials else None
    try:
        embedded = library_embeddings(library, extractor, layers, progress)
        progress("Preparing the training data", 0, 0)
        split, full = training_sets(library, embedded, settings.heldout, settings.ratings)
        learned = learn(
            split,
            full,
            {
                "extractor": extractor,
                "layers": layers.layers,
                "layer_mode": layers.mode,
                "ratings": settings.ratings,
            },
            settings.learner_settings(),
            progress,
            storage,
            study_name=_study_name(library, extractor, layers, settings),
        )
    except KeyboardInterrupt:  # before a model: say what is kept and how to go on
        raise KeyboardInterrupt(_how_to_go_on(storage)) from None
    model = learned.model
    if output is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", extractor.rsplit("/", 1)[-1]).strip("-")
        kind = settings.learner if settings.learner == "kernel" else model.meta.loss
        output = library.models_dir / f"{stamp}-{slug}-{kind}.safetensors"
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    model_id = library.store.add_model(
        str(output.resolve()), extractor, layers.key, dict(model.meta.metrics)
    )
    return Trained(
        model,
        output,
        model_id,
        embedded,
        learned.trials,
        storage,
        learned.best_trial,
        learned.interrupted,
    )


def _study_name(
    library: Library, extractor: str, layers: LayerChoice, settings: TrainSettings
) -> str:
    """The search a ``train`` resumes: one per profile (another's trials were measured on
    other choices), the default profile's named as before profiles."""
    name = f"{extractor}|{layers.key}|{settings.loss}|{settings.ratings}"
    return name if library.profile == DEFAULT_PROFILE else f"{library.profile}|{name}"


def _how_to_go_on(storage: str | None) -> str:
    """What an interrupted ``train`` leaves, and how the next one goes on from it."""
    search = (
        f", and the search goes on from the trials kept in {storage} (those with the same "
        "extractor, layers, loss and ratings)"
        if storage
        else ""
    )
    return (
        "Nothing was saved. The same `tastemaker train` goes on from here: the images "
        f"embedded so far stay cached{search}."
    )

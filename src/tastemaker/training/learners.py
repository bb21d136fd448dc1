"""The learners: from the rated images' embeddings to one saved scoring model.

Each learner chooses its settings on the training split, is judged on the held-out
outcomes, then is refitted on every rated image with those settings — the model a person
takes home has learnt from all their choices, its printed figures from a fit that never
saw the held-out ones.

- ``kernel`` (the default): kernel ridge regression of the ratings
  (:mod:`tastemaker.training.kernel`), its kernel, width and penalty chosen by
  closed-form leave-one-out on the split's training images and kept for the refit; it
  gives every score an uncertainty.
- ``mlp``: the seed's MLP (:mod:`tastemaker.training.loop`), one fit with the default
  metaparameters, or an Optuna search of ``trials`` fits; its refit runs the epochs at
  which the chosen fit stopped early. With ``loss="choices"`` the refit learns from every
  outcome, those between the split's sides too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.model import KERNEL, TasteModel, new_meta
from tastemaker.progress import Progress, no_progress
from tastemaker.training.calibration import calibrate
from tastemaker.training.data import TrainingData
from tastemaker.training.kernel import KernelFit, KernelSettings, fit_kernel
from tastemaker.training.loop import TrainParams, cpu_threads, default_cpu_threads, train_model
from tastemaker.training.metrics import evaluate

if TYPE_CHECKING:
    from tastemaker.training.search import SearchResult  # Optuna, only for a search

LEARNERS = ("kernel", "mlp")


@dataclass(frozen=True)
class LearnerSettings:
    """Which learner, and the MLP's own settings (``loss`` None: ranking, the seed's)."""

    learner: str = "kernel"
    loss: str | None = None  # the MLP's: ranking | mse | choices
    trials: int = 0  # 0: one fit with the default metaparameters; N: an Optuna search
    sampler: str = "tpe"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise SettingError(
                "learner", f"{{setting}} is one of {', '.join(LEARNERS)}, not {self.learner!r}"
            )
        if self.trials < 0:
            raise SettingError("trials", f"{{setting}} must be 0 or more, not {self.trials}")
        if self.learner == "kernel":
            for setting, value in (("loss", self.loss), ("trials", self.trials or None)):
                if value is not None:
                    raise SettingError(
                        setting,
                        "{setting} is the MLP's (the kernel model chooses its own settings "
                        "by leave-one-out): add --learner mlp",
                    )


@dataclass(frozen=True)
class Learned:
    """The refitted model (its meta holds the split fit's metrics and the calibration)
    and, after a search, how many trials its study holds and which one was chosen."""

    model: TasteModel
    trials: int = 0
    best_trial: int | None = None  # the search's trial the model's settings are from
    interrupted: bool = False  # the search was ended by Ctrl-C (its best so far is kept)


def learn(
    split: TrainingData,
    full: TrainingData,
    meta_base: dict[str, Any],
    settings: LearnerSettings | None = None,
    progress: Progress = no_progress,
    storage: str | None = None,
    study_name: str = "tastemaker",
) -> Learned:
    """Choose settings and measure on ``split`` (its ``heldout`` images unseen), then
    refit on ``full`` (nothing held out; the same images, their ratings from every
    outcome). ``meta_base`` is :func:`~tastemaker.training.loop.train_model`'s;
    ``storage`` and ``study_name`` keep a search's history."""
    settings = settings or LearnerSettings()
    if full.heldout.any():
        raise ValueError("the refit holds nothing out")
    check_enough(split, settings)
    everything = np.ones(full.n, bool)
    if settings.learner == "kernel":
        with cpu_threads(default_cpu_threads()):  # the kernels are torch's, as the MLP's
            progress("training", 0, 2)
            chosen, fit = _kernel_model(split, split.train, meta_base)
            progress("training", 1, 2)
            final, _ = _kernel_model(full, everything, meta_base, fit)
            progress("training", 2, 2)
        learnt_from, found = rated(full, everything), None
    else:
        chosen, final, found = _mlp_models(
            split, full, meta_base, settings, progress, storage, study_name
        )
        learnt_from = everything
    split_scores = chosen.score_embeddings(split.x)
    metrics = {
        **evaluate(split_scores, split),
        "refit_images": float(learnt_from.sum()),
        "refit_choices": float(full.comparisons_within(learnt_from).sum()),
    }
    final.meta = dataclasses.replace(
        final.meta, metrics=metrics, calibration=calibrate(split_scores, split)
    )
    if found is None:
        return Learned(final)
    return Learned(final, len(found.study.trials), found.study.best_trial.number, found.interrupted)


def check_enough(split: TrainingData, settings: LearnerSettings) -> None:
    """Refuse a split too thin for the learner. It reads only the images, the outcomes
    and the split, so it runs before anything is embedded as well (the embeddings and
    ratings of ``split`` may be placeholders then)."""
    if settings.learner == "kernel":
        rows = rated(split, split.train)
        if rows.sum() < 3:
            raise TastemakerError(
                f"Only {int(rows.sum())} of the training images have been in a choice with "
                "another: rate more before training."
            )
    elif settings.trials:
        from tastemaker.training.search import check_data  # Optuna, only for a search

        check_data(split)


def rated(data: TrainingData, images: np.ndarray) -> np.ndarray:
    """Of ``images`` (a mask), those in at least one outcome between two of them: a
    rating no choice has moved is only its prior, nothing to learn from."""
    keep = data.comparisons_within(images)
    out = np.zeros(data.n, bool)
    out[data.winners[keep]] = True
    out[data.losers[keep]] = True
    return out


def _kernel_model(
    data: TrainingData,
    images: np.ndarray,
    meta_base: dict[str, Any],
    chosen_on_split: KernelFit | None = None,
) -> tuple[TasteModel, KernelFit]:
    """The kernel model of the rated ones of ``images``, its settings by leave-one-out
    (or those of ``chosen_on_split``, whose record it keeps)."""
    rows = rated(data, images)  # at least 3: check_enough
    chosen = chosen_on_split.chosen if chosen_on_split else None
    fit = fit_kernel(data.x[rows], data.scores[rows], settings=KernelSettings(), chosen=chosen)
    record = chosen_on_split or fit
    head = fit.model
    sd = fit.fitted_sd
    meta = new_meta(
        meta_base,
        input_dim=data.dim,
        hidden=(len(head.anchors),),
        dropouts=(),
        score_mean=fit.fitted_mean,
        score_sd=sd if sd > 0 else 1.0,
        l2_normalize_input=True,
        loss="mse",
        params={
            "kernel": head.settings(),
            "method": fit.method,
            "selected_on": record.selected_on,
            "candidates": [dataclasses.asdict(c) for c in record.candidates],
        },
        architecture=KERNEL,
    )
    return TasteModel(meta, head, device="cpu"), fit


def _mlp_models(
    split: TrainingData,
    full: TrainingData,
    meta_base: dict[str, Any],
    settings: LearnerSettings,
    progress: Progress,
    storage: str | None,
    study_name: str,
) -> tuple[TasteModel, TasteModel, SearchResult | None]:
    """The MLP chosen on the split (one fit, or the best of a search), its refit, and
    the search's result (None without one)."""
    from tastemaker.training.search import search  # Optuna, only for a search

    base = TrainParams(loss=settings.loss or "ranking")
    result = None
    if settings.trials:
        result = search(
            split,
            settings.trials,
            meta_base,
            base=base,
            sampler=settings.sampler,
            storage=storage,
            study_name=study_name,
            seed=settings.seed,
            progress=progress,
        )
        chosen = result.best
    else:
        chosen = train_model(split, base, meta_base, settings.seed, progress=progress)
    params = TrainParams.from_dict(chosen.model.meta.params)
    epochs = int(chosen.metrics.get("best_epoch", chosen.metrics["epochs_run"]))
    seed = int(chosen.model.meta.params.get("seed", settings.seed))
    final = train_model(
        full, dataclasses.replace(params, epochs=epochs), meta_base, seed, progress=progress
    )
    return chosen.model, final.model, result

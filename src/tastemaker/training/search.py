"""Metaparameter search with Optuna: layer sizes, dropouts, learning rate, epochs, batch
size and warmup, each trial one :func:`~tastemaker.training.loop.train_model`.

The objective, maximised, is measured on the held-out images:

- ``heldout_choice_agreement`` — agreement with the person's own choices that have a
  held-out image in them — when there are at least :data:`MIN_HELDOUT_CHOICES` of them;
- ``heldout_pairwise_accuracy`` — agreement with the database's order — otherwise.

A study records which it maximises and keeps it when resumed. With ``storage`` (an
SQLite URL such as ``sqlite:///library/.tastemaker/search.db``) the study survives a
crash and a later call with the same ``study_name`` adds trials to it
(``load_if_exists=True``); when the best trial is from an earlier call, its model is
trained again from its recorded parameters and seed (the same model on the same data
and device).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import optuna
import torch

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.progress import Progress, no_progress
from tastemaker.training.data import TrainingData
from tastemaker.training.loop import TrainingDiverged, TrainParams, TrainResult, train_model

SAMPLERS = ("tpe", "cmaes", "random")
CHOICE_OBJECTIVE = "heldout_choice_agreement"
PAIRWISE_OBJECTIVE = "heldout_pairwise_accuracy"
MIN_HELDOUT_CHOICES = 30  # fewer than this: too noisy to steer a search by
_LABELS = {CHOICE_OBJECTIVE: "held-out choice agreement", PAIRWISE_OBJECTIVE: "held-out pairwise"}


@dataclass(frozen=True)
class SearchSpace:
    """The ranges searched (integers inclusive; ``log`` ones on a log scale)."""

    hidden1: tuple[int, int] = (16, 512)  # log
    hidden2: tuple[int, int] = (4, 128)  # log
    dropout: tuple[float, float] = (0.0, 0.5)  # each of the three
    lr: tuple[float, float] = (1e-4, 1e-2)  # log
    epochs: tuple[int, int] = (5, 40)
    batch_size_log2: tuple[int, int] = (7, 10)  # batch sizes 128 .. 1024
    warmup_fraction: tuple[float, float] = (0.0, 0.3)

    def suggest(self, trial: optuna.Trial, base: TrainParams) -> TrainParams:
        """The trial's parameters; what is not searched (loss, margin, ...) from ``base``."""
        return replace(
            base,
            hidden=(
                trial.suggest_int("hidden1", *self.hidden1, log=True),
                trial.suggest_int("hidden2", *self.hidden2, log=True),
            ),
            dropouts=(
                trial.suggest_float("dropout_input", *self.dropout),
                trial.suggest_float("dropout_hidden", *self.dropout),
                trial.suggest_float("dropout_final", *self.dropout),
            ),
            lr=trial.suggest_float("lr", *self.lr, log=True),
            epochs=trial.suggest_int("epochs", *self.epochs),
            batch_size=2 ** trial.suggest_int("batch_size_log2", *self.batch_size_log2),
            warmup_fraction=trial.suggest_float("warmup_fraction", *self.warmup_fraction),
        )


@dataclass(frozen=True)
class SearchResult:
    """The best model found (of every trial in the study, earlier calls' included), the
    Optuna study, and the name of the metric maximised."""

    best: TrainResult
    study: optuna.Study
    objective: str
    interrupted: bool = False  # by Ctrl-C: ``best`` is the best of the trials that finished


def objective_for(data: TrainingData) -> str:
    """Which held-out metric a new search on ``data`` maximises."""
    held = data.heldout_outcomes.sum()
    return CHOICE_OBJECTIVE if held >= MIN_HELDOUT_CHOICES else PAIRWISE_OBJECTIVE


def check_data(data: TrainingData) -> None:
    """Refuse data a search cannot compare trials on (its outcomes are enough)."""
    if data.heldout.sum() < 2:
        raise TastemakerError("A search needs held-out images to compare trials on.")


def _make_sampler(name: str, seed: int, trials_so_far: int) -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise SettingError(
            "sampler", f"There is no sampler {name!r}: choose one of {', '.join(SAMPLERS)}."
        )
    # a resumed study must not replay the first call's random draws, so the seed moves on
    # with the trials
    moved = seed + trials_so_far
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=moved)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=moved)
    return optuna.samplers.TPESampler(seed=moved)


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial log lines and experimental warnings off (the caller shows a
    progress bar), restored afterwards."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def search(
    data: TrainingData,
    trials: int,
    meta_base: dict[str, Any],
    *,
    base: TrainParams | None = None,
    space: SearchSpace | None = None,
    sampler: str = "tpe",
    storage: str | None = None,
    study_name: str = "tastemaker",
    seed: int = 0,
    progress: Progress = no_progress,
    device: str | torch.device | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    prune: bool = True,
) -> SearchResult:
    """Run ``trials`` more trials and return the best model of the study.

    ``meta_base`` is :func:`train_model`'s; ``base`` gives what is not searched (the loss,
    its margin, weight decay, patience); every trial trains with ``seed``. ``progress``
    hears ("search: best held-out … 73.4% (trial 5)", done, trials) after each trial.
    ``device`` and ``threads`` are :func:`train_model`'s. With ``prune``, a trial whose
    held-out loss after an epoch is worse than the median of earlier trials at that epoch
    is stopped there (Optuna's ``MedianPruner``; not in the first 5 trials or epochs).
    ``timeout`` (seconds) ends the search sooner. A trial whose training diverges is
    recorded as pruned and the search goes on. Ctrl-C (KeyboardInterrupt) ends it too:
    the result is then the best trial that finished, or, when none has, the interrupt
    goes on up (the study keeps its record either way).
    """
    base = base or TrainParams()
    space = space or SearchSpace()
    check_data(data)
    with _quiet_optuna():
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
            if prune
            else optuna.pruners.NopPruner()
        )
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction="maximize",
            pruner=pruner,
            load_if_exists=True,
        )
        done_before = len(study.trials)
        study.sampler = _make_sampler(sampler, seed, done_before)
        objective = study.user_attrs.get("objective") or objective_for(data)
        if objective == CHOICE_OBJECTIVE and objective_for(data) != CHOICE_OBJECTIVE:
            raise TastemakerError(
                f"Study {study_name!r} compares trials by agreement with held-out choices, "
                f"but there are fewer than {MIN_HELDOUT_CHOICES} now: start a new study."
            )
        study.set_user_attr("objective", objective)
        label = _LABELS[objective]
        best: dict[int, TrainResult] = {}  # the best trial of this call: {number: result}
        best_value = [-math.inf]

        def run_trial(trial: optuna.Trial) -> float:
            params = space.suggest(trial, base)
            trial.set_user_attr("train_params", params.to_dict())
            trial.set_user_attr("seed", seed)

            def report(record: dict[str, float]) -> None:
                if "heldout_loss" in record:  # higher is better for the pruner, as the study
                    trial.report(-record["heldout_loss"], int(record["epoch"]))
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            try:
                result = train_model(
                    data, params, meta_base, seed, device, threads=threads, on_epoch=report
                )
            except TrainingDiverged:
                trial.set_user_attr("diverged", True)
                raise optuna.TrialPruned() from None
            for key, value in result.metrics.items():
                trial.set_user_attr(key, value)
            value = result.metrics.get(objective, math.nan)
            if value > best_value[0]:  # False for NaN
                best_value[0] = value
                best.clear()
                best[trial.number] = result
            return value

        def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            done = len(study.trials) - done_before
            try:
                b = study.best_trial
                text = f"search: best {label} {b.value:.1%} (trial {b.number})"
            except ValueError:  # no trial has finished with a value yet
                text = "search"
            progress(text, done, trials)

        stopped: KeyboardInterrupt | None = None
        try:
            progress("search", 0, trials)
            study.optimize(run_trial, n_trials=trials, timeout=timeout, callbacks=[after_trial])
        except KeyboardInterrupt as e:  # Ctrl-C: Optuna has recorded the trial as failed
            stopped = e

    try:
        best_trial = study.best_trial
    except ValueError:
        if stopped:
            raise stopped from None  # nothing to keep; the study resumes from its record
        raise TastemakerError(
            "No trial of the search gave a model that could be measured."
        ) from None
    if stopped:
        progress(f"Search interrupted: finishing with its best trial, {best_trial.number}", 0, 0)
    if best_trial.number in best:
        result = best[best_trial.number]
    else:  # the best is from an earlier call: train it again from what it recorded
        params = TrainParams.from_dict(best_trial.user_attrs["train_params"])
        seed_used = int(best_trial.user_attrs.get("seed", seed))
        result = train_model(data, params, meta_base, seed_used, device, threads=threads)
    return SearchResult(result, study, objective, interrupted=stopped is not None)

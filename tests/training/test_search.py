"""The metaparameter search: runs, stores its study in SQLite, resumes, stays quiet."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from tastemaker.errors import TastemakerError
from tastemaker.training import SAMPLERS, SearchSpace, TrainingData, TrainParams, search
from tastemaker.training.search import (
    CHOICE_OBJECTIVE,
    MIN_HELDOUT_CHOICES,
    PAIRWISE_OBJECTIVE,
    objective_for,
)
from tastemaker.training.synthetic import synthetic_taste

META = {"extractor": "test/extractor", "layers": (0,), "layer_mode": "join", "ratings": "elo"}
TINY = SearchSpace(hidden1=(8, 32), hidden2=(4, 8), epochs=(3, 6), batch_size_log2=(5, 6))


@pytest.fixture(scope="module")
def taste() -> TrainingData:
    return synthetic_taste(n=240, d=16, choices_per_image=8, seed=1)


def run(data, trials, tmp_path: Path | None = None, **kwargs):
    storage = f"sqlite:///{tmp_path / 'search.db'}" if tmp_path else None
    return search(data, trials, META, space=TINY, storage=storage, study_name="s", **kwargs)


def test_search_runs_stores_and_resumes(taste, tmp_path: Path):
    calls = []
    first = run(taste, 3, tmp_path, progress=lambda *a: calls.append(a))
    assert (tmp_path / "search.db").is_file()
    assert len(first.study.trials) == 3
    assert first.objective == CHOICE_OBJECTIVE
    best = first.study.best_trial
    assert first.best.metrics[CHOICE_OBJECTIVE] == best.value
    assert first.best.model.meta.params == {**best.user_attrs["train_params"], "seed": 0}
    assert [c[1:] for c in calls] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert (
        calls[-1][0]
        == f"search: best held-out choice agreement {best.value:.1%} (trial {best.number})"
    )

    second = run(taste, 2, tmp_path)
    assert len(second.study.trials) == 5  # the same study, two more trials
    assert second.study.best_value >= first.study.best_value
    reloaded = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'search.db'}")
    assert len(reloaded.trials) == 5
    # the random draws of the second call are new ones, not the first call's again
    params = [t.params for t in reloaded.trials]
    assert params[3] != params[0] and params[4] != params[1]


def test_best_from_an_earlier_call_is_trained_again_identically(taste, tmp_path: Path):
    first = run(taste, 2, tmp_path)
    again = run(taste, 0, tmp_path)  # no new trial: the best is the first call's
    assert again.study.best_trial.number == first.study.best_trial.number
    assert again.best.metrics == first.best.metrics
    x = taste.x[:10]
    np.testing.assert_array_equal(
        again.best.model.score_embeddings(x), first.best.model.score_embeddings(x)
    )


def test_objective_falls_back_to_pairwise_accuracy(taste):
    few = TrainingData(
        taste.x, taste.scores, taste.winners[:5], taste.losers[:5], heldout=taste.heldout
    )
    assert taste.comparisons_within(taste.heldout).sum() >= MIN_HELDOUT_CHOICES
    assert objective_for(few) == PAIRWISE_OBJECTIVE
    result = run(few, 2)
    assert result.objective == PAIRWISE_OBJECTIVE
    assert result.best.metrics[PAIRWISE_OBJECTIVE] == result.study.best_value


def test_a_study_keeps_its_objective(taste, tmp_path: Path):
    run(taste, 1, tmp_path)
    few = TrainingData(
        taste.x, taste.scores, taste.winners[:5], taste.losers[:5], heldout=taste.heldout
    )
    with pytest.raises(TastemakerError) as e:
        run(few, 1, tmp_path)
    assert str(e.value) == (
        "Study 's' compares trials by agreement with held-out choices, but there are fewer "
        f"than {MIN_HELDOUT_CHOICES} now: start a new study."
    )


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler(taste, sampler: str):
    """Each advertised sampler works as installed: none needs a package tastemaker does
    not bring."""
    result = run(taste, 2, sampler=sampler, base=TrainParams(loss="mse"))
    assert len(result.study.trials) == 2
    assert result.best.model.meta.loss == "mse"


def test_unknown_sampler(taste):
    with pytest.raises(TastemakerError) as e:
        run(taste, 1, sampler="grid")
    assert str(e.value) == "There is no sampler 'grid': choose one of tpe, cmaes, random."


def test_needs_heldout_images(taste):
    data = TrainingData(taste.x, taste.scores, taste.winners, taste.losers)
    with pytest.raises(TastemakerError, match="needs held-out images"):
        run(data, 1)


def test_optuna_is_quiet_and_restored(taste, tmp_path: Path, capfd):
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        run(taste, 2, tmp_path)
        out, err = capfd.readouterr()
        assert out == "" and err == ""
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)


def test_a_diverging_trial_is_pruned_not_fatal(taste, monkeypatch):
    search_module = sys.modules[
        "tastemaker.training.search"
    ]  # the package's `search` is the function
    real = search_module.train_model
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise search_module.TrainingDiverged("diverged")
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "train_model", flaky)
    result = run(taste, 2)
    states = [t.state for t in result.study.trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert result.study.trials[0].user_attrs["diverged"] is True


def ctrl_c_when(seen: tuple[str, int]):
    """A progress callback that presses Ctrl-C (a real SIGINT) on the report ``seen``:
    (its first word, trials done)."""

    def progress(text: str, done: int, total: int) -> None:
        if (text.split(":")[0], done) == seen:
            signal.raise_signal(signal.SIGINT)

    return progress


def test_ctrl_c_keeps_the_best_trial_that_finished(taste, tmp_path: Path):
    result = run(taste, 50, tmp_path, progress=ctrl_c_when(("search", 2)))
    assert result.interrupted
    assert len(result.study.trials) == 2  # stopped after the second trial's report
    assert result.best.metrics[result.objective] == result.study.best_value


def test_ctrl_c_before_any_trial_finished_goes_on_up(taste, tmp_path: Path):
    with pytest.raises(KeyboardInterrupt):
        run(taste, 50, tmp_path, progress=ctrl_c_when(("search", 0)))
    resumed = run(taste, 1, tmp_path)  # the study is there to go on with
    assert not resumed.interrupted and resumed.study.best_trial is not None

"""The learners: settings chosen and measured on the split, then a refit on everything."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tastemaker.errors import SettingError
from tastemaker.model import KERNEL, MLP, load_model_file
from tastemaker.rating.ranks import spearman
from tastemaker.training import TrainingData
from tastemaker.training.learners import LearnerSettings, learn, rated
from tastemaker.training.synthetic import synthetic_taste

META = {"extractor": "efficientnet-lite0", "layers": (0,), "layer_mode": "join", "ratings": "bt"}


def _full(split: TrainingData) -> TrainingData:
    return dataclasses.replace(split, heldout=np.zeros(split.n, bool))


@pytest.fixture(scope="module")
def taste() -> TrainingData:
    return synthetic_taste(n=300, d=16, choices_per_image=3, sharpness=3.0, seed=1)


def test_the_kernel_model_is_refitted_on_every_rated_image(taste, tmp_path):
    learned = learn(taste, _full(taste), META)
    model = learned.model
    assert model.meta.architecture == KERNEL and learned.trials == 0
    everything = rated(_full(taste), np.ones(taste.n, bool))
    # exact up to 2,000 images: every rated image is an anchor of the saved model
    assert len(model.module.anchors) == everything.sum() > rated(taste, taste.train).sum()
    m = model.meta.metrics
    assert m["refit_images"] == everything.sum()
    assert m["refit_choices"] == len(taste.winners)
    # judged on every outcome with a held-out image in it, crossing the split or not
    assert (
        m["heldout_choices"]
        == taste.heldout_outcomes.sum()
        > taste.comparisons_within(taste.heldout).sum()
    )
    assert m["heldout_choice_agreement"] > 0.7
    assert model.meta.calibration is not None and model.meta.calibration > 0
    # the saved model is the refit: it scores the held-out images as a fit on them would
    truth = taste.scores
    scores = model.score_embeddings(taste.x)
    assert spearman(scores[taste.heldout], truth[taste.heldout]) > 0.8
    again = load_model_file(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_allclose(again.score_embeddings(taste.x), scores, rtol=1e-5, atol=1e-5)


def test_the_split_fit_never_learns_from_a_held_out_outcome(taste):
    """Reversing every outcome with a held-out image in it changes the refit but not the
    figures measured on the split fit's training side."""
    flip = taste.heldout_outcomes
    reversed_ = dataclasses.replace(
        taste,
        winners=np.where(flip, taste.losers, taste.winners),
        losers=np.where(flip, taste.winners, taste.losers),
    )
    a = learn(taste, _full(taste), META).model.meta.metrics
    b = learn(reversed_, _full(reversed_), META).model.meta.metrics
    assert a["train_choice_agreement"] == b["train_choice_agreement"]
    assert a["heldout_choice_agreement"] == pytest.approx(1 - b["heldout_choice_agreement"])


def test_the_choices_loss_refit_learns_from_outcomes_across_the_split():
    """Between training images the choices are noise; every choice with a held-out image
    follows the taste. Only a refit that uses the outcomes across the split learns it."""
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=(n, 8)).astype(np.float32)
    taste = x[:, 0]
    heldout = np.arange(n) % 2 == 0
    train_idx, held_idx = np.flatnonzero(~heldout), np.flatnonzero(heldout)
    a, b = rng.choice(train_idx, 60), rng.choice(train_idx, 60)
    noise = a != b
    c, d = rng.choice(train_idx, 800), rng.choice(held_idx, 800)
    better = taste[c] > taste[d]
    winners = np.concatenate([a[noise], np.where(better, c, d)])
    losers = np.concatenate([b[noise], np.where(better, d, c)])
    split = TrainingData(x, taste, winners, losers, heldout=heldout)
    settings = LearnerSettings(learner="mlp", loss="choices")
    model = learn(split, _full(split), META | {"ratings": "elo"}, settings).model
    assert model.meta.architecture == MLP and model.meta.loss == "choices"
    assert model.meta.metrics["refit_choices"] == len(winners)
    assert spearman(model.score_embeddings(x), taste) > 0.8


def test_the_mlp_refit_runs_the_epochs_its_split_fit_chose(taste):
    learned = learn(taste, _full(taste), META, LearnerSettings(learner="mlp"))
    params = learned.model.meta.params
    assert learned.model.meta.architecture == MLP and learned.model.meta.loss == "ranking"
    assert 1 <= params["epochs"] <= 30  # the early-stopped epoch, not the maximum run
    assert learned.model.meta.metrics["refit_images"] == taste.n


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learner": "tree"}, "{setting} is one of kernel, mlp, not 'tree'"),
        ({"loss": "choices"}, "{setting} is the MLP's"),
        ({"trials": 3}, "{setting} is the MLP's"),
        ({"learner": "mlp", "trials": -1}, "{setting} must be 0 or more, not -1"),
    ],
)
def test_settings_are_checked(settings, message):
    with pytest.raises(SettingError) as caught:
        LearnerSettings(**settings)
    assert caught.value.template.startswith(message)

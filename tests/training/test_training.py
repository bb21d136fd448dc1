"""Training: the split, one conformance suite for every loss, metrics, and the loop."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pytest
import torch

from tastemaker import __version__
from tastemaker.errors import TastemakerError
from tastemaker.model import load_model_file
from tastemaker.training import (
    LOSSES,
    Loss,
    TrainingData,
    TrainParams,
    evaluate,
    heldout_mask,
    make_loss,
    train_model,
)
from tastemaker.training.losses import RankingLoss
from tastemaker.training.metrics import choice_agreement, pairwise_accuracy
from tastemaker.training.synthetic import synthetic_taste

META = {"extractor": "efficientnet-lite0", "layers": (0,), "layer_mode": "join", "ratings": "elo"}
FAST = TrainParams(hidden=(32, 8), epochs=15, batch_size=64, lr=5e-3, dropouts=(0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def taste() -> TrainingData:
    """600 images, d=32, score = a hidden direction plus a bend; 5 choices per image."""
    return synthetic_taste(n=600, d=32, choices_per_image=5, seed=0)


# -- the split ---------------------------------------------------------------------------


def test_split_is_stable_when_images_are_added():
    keys = [f"hash{i}" for i in range(1000)]
    before = heldout_mask(keys)
    after = heldout_mask([*keys, *(f"new{i}" for i in range(500))])
    np.testing.assert_array_equal(after[:1000], before)
    # order does not matter either: each key decides for itself
    np.testing.assert_array_equal(heldout_mask(keys[::-1]), before[::-1])


def test_split_is_near_the_share():
    keys = [f"{i:064x}" for i in range(4000)]
    assert abs(heldout_mask(keys).mean() - 0.25) < 0.03
    assert abs(heldout_mask(keys, share=0.5).mean() - 0.5) < 0.03
    assert not heldout_mask(keys, share=0.0).any()
    assert heldout_mask(keys, share=1.0).all()


def test_split_salt_gives_another_split():
    keys = [f"k{i}" for i in range(400)]
    assert (heldout_mask(keys, salt="a") != heldout_mask(keys, salt="b")).any()


# -- one conformance suite for every loss ------------------------------------------------


class FlippedRanking(RankingLoss):
    """A broken loss (the ranking loss with its sign flipped): the suite must fail it."""

    name = "flipped"

    def batch_loss(self, forward, x, batch, gen):
        return super().batch_loss(lambda rows: -forward(rows), x, batch, gen)


def heldout_accuracy(data: TrainingData, loss: str, seed: int = 0) -> float:
    result = train_model(data, TrainParams(**{**FAST.to_dict(), "loss": loss}), META, seed=seed)
    return result.metrics["heldout_pairwise_accuracy"]


def index_data(data: TrainingData) -> TrainingData:
    """The same data with row i of x holding i, so a forward can tell which rows it saw."""
    x = np.repeat(np.arange(data.n, dtype=np.float32)[:, None], 3, axis=1)
    return TrainingData(x, data.scores, data.winners, data.losers, data.weights, data.heldout)


class TestLoss:
    """What every loss in ``LOSSES`` must do (optuna's StorageTestCase, for losses)."""

    @pytest.fixture(params=sorted(LOSSES))
    def name(self, request) -> str:
        return request.param

    def test_registered_under_its_name(self, name: str):
        loss = make_loss(name)
        assert isinstance(loss, Loss) and loss.name == name

    def test_batches_cover_training_and_never_touch_heldout(self, name: str, taste):
        data = index_data(taste)
        loss = make_loss(name)
        loss.prepare(data, torch.device("cpu"))
        gen = torch.Generator().manual_seed(0)
        batches = loss.batches(gen, 50)
        assert batches and all(0 < len(b) <= 50 for b in batches)
        seen: list[np.ndarray] = []

        def forward(rows: torch.Tensor) -> torch.Tensor:
            seen.append(rows[:, 0].long().numpy())
            return rows[:, 0] * 0.01

        x = torch.tensor(data.x)
        for batch in batches:
            value = loss.batch_loss(forward, x, batch, gen)
            assert value.ndim == 0 and torch.isfinite(value)
        used = np.unique(np.concatenate(seen))
        assert not data.heldout[used].any()
        # one epoch reaches every training image the loss learns from (a batch of one
        # image, which has no pair, may be left out)
        if name == "choices":
            within = data.comparisons_within(data.train)
            reachable = np.unique(np.r_[data.winners[within], data.losers[within]])
        else:
            reachable = np.flatnonzero(data.train)
        assert np.isin(used, reachable).all() and len(used) >= len(reachable) - 1

    def test_a_batch_loss_has_a_gradient(self, name: str, taste):
        loss = make_loss(name)
        loss.prepare(taste, torch.device("cpu"))
        gen = torch.Generator().manual_seed(0)
        layer = torch.nn.Linear(taste.dim, 1)
        batch = loss.batches(gen, 64)[0]
        value = loss.batch_loss(lambda r: layer(r).squeeze(-1), torch.tensor(taste.x), batch, gen)
        value.backward()
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0

    def test_eval_loss_prefers_the_truth_and_is_deterministic(self, name: str, taste):
        loss = make_loss(name)
        loss.prepare(taste, torch.device("cpu"))
        truth = torch.tensor(taste.scores, dtype=torch.float32)
        for heldout in (True, False):
            good = loss.eval_loss(truth * 3, heldout=heldout)
            bad = loss.eval_loss(-truth * 3, heldout=heldout)
            assert good is not None and bad is not None
            assert good < bad
            assert loss.eval_loss(truth * 3, heldout=heldout) == good

    def test_eval_loss_is_none_without_heldout(self, name: str, taste):
        data = TrainingData(taste.x, taste.scores, taste.winners, taste.losers)
        loss = make_loss(name)
        loss.prepare(data, torch.device("cpu"))
        assert loss.eval_loss(torch.zeros(data.n), heldout=True) is None

    def test_learns_a_known_taste(self, name: str, taste):
        # a hidden direction plus a bend, 600 images, d=32: well above chance (0.5) held out;
        # the same loss with its sign flipped scores about 0.1 (test below)
        assert heldout_accuracy(taste, name) > 0.8

    def test_deterministic_given_the_seed(self, name: str, taste):
        params = TrainParams(**{**FAST.to_dict(), "loss": name, "epochs": 3})
        params = TrainParams.from_dict({**params.to_dict(), "dropouts": (0.2, 0.2, 0.2)})
        a = train_model(taste, params, META, seed=1).model.module.state_dict()
        b = train_model(taste, params, META, seed=1).model.module.state_dict()
        c = train_model(taste, params, META, seed=2).model.module.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not all(torch.equal(a[k], c[k]) for k in a)


def test_the_threshold_fails_a_sign_flipped_loss(taste, monkeypatch):
    monkeypatch.setitem(LOSSES, "flipped", FlippedRanking)
    assert heldout_accuracy(taste, "flipped") < 0.5


def test_unknown_loss():
    with pytest.raises(TastemakerError) as e:
        make_loss("hinge")
    assert str(e.value) == "There is no loss called 'hinge': choose one of ranking, mse, choices."


def test_choices_loss_needs_choices(taste):
    data = TrainingData(taste.x, taste.scores, [], [], heldout=taste.heldout)
    with pytest.raises(TastemakerError, match="no choices between two training images"):
        train_model(data, TrainParams(loss="choices"), META)


def test_choices_loss_uses_weights():
    # two images; the person chose 0 over 1 once (weight 3) and 1 over 0 once (weight 1)
    data = TrainingData(np.eye(2, dtype=np.float32), [1.0, 0.0], [0, 1], [1, 0], [3.0, 1.0])
    loss = make_loss("choices")
    loss.prepare(data, torch.device("cpu"))
    s = torch.tensor([1.0, 0.0])
    sp = torch.nn.functional.softplus
    expected = (3 * sp(torch.tensor(-1.0)) + sp(torch.tensor(1.0))) / 4
    assert loss.eval_loss(s, heldout=False) == pytest.approx(float(expected))


# -- metrics -----------------------------------------------------------------------------


def test_pairwise_accuracy_exact_and_sampled():
    rng = np.random.default_rng(0)
    target = rng.normal(size=400)
    pred = target + rng.normal(size=400)
    assert pairwise_accuracy(target, target) == 1.0
    assert pairwise_accuracy(-target, target) == 0.0
    exact = pairwise_accuracy(pred, target)
    sampled = pairwise_accuracy(pred, target, max_exact=10)
    assert abs(exact - sampled) < 0.005
    # by hand: ties in the target are skipped, ties in the prediction count half
    assert pairwise_accuracy([1, 1, 2], [0, 1, 1]) == pytest.approx((0.5 + 1) / 2)
    assert np.isnan(pairwise_accuracy([1.0], [1.0]))


def test_choice_agreement_counts_only_choices_within_the_set():
    pred = np.array([3.0, 2.0, 1.0, 1.0])
    winners, losers = np.array([0, 2, 1, 3]), np.array([1, 0, 3, 2])
    assert choice_agreement(pred, winners, losers) == (pytest.approx((1 + 0 + 1 + 0.5) / 4), 4)
    mask = np.array([True, True, False, False])
    assert choice_agreement(pred, winners, losers, mask) == (1.0, 1)
    agreement, count = choice_agreement(pred, winners, losers, np.zeros(4, bool))
    assert np.isnan(agreement) and count == 0


def test_evaluate_leaves_out_what_is_undefined(taste):
    metrics = evaluate(taste.scores, taste)
    for split in ("train", "heldout"):
        for key in ("pairwise_accuracy", "spearman", "pearson", "choice_agreement"):
            assert metrics[f"{split}_{key}"] == pytest.approx(1.0)
    no_heldout = TrainingData(taste.x, taste.scores, taste.winners, taste.losers)
    metrics = evaluate(taste.scores, no_heldout)
    assert "heldout_spearman" not in metrics and metrics["heldout_images"] == 0
    assert all(np.isfinite(v) for v in metrics.values())


# -- the loop ----------------------------------------------------------------------------


def test_scores_are_normalised_over_the_training_images(taste):
    result = train_model(taste, FAST, META)
    scores = result.model.score_embeddings(taste.x[taste.train])
    assert abs(scores.mean()) < 1e-4
    assert scores.std() == pytest.approx(1.0, abs=1e-4)
    assert result.model.score_embeddings(taste.x[taste.heldout]).std() > 0.5


def test_meta_is_filled(taste):
    params = TrainParams(**{**FAST.to_dict(), "loss": "mse"})
    result = train_model(taste, params, {**META, "ratings": "bt", "calibration": 1.2}, seed=4)
    meta = result.model.meta
    assert (meta.extractor, meta.layers, meta.layer_mode) == ("efficientnet-lite0", (0,), "join")
    assert (meta.input_dim, meta.hidden, meta.dropouts) == (32, (32, 8), (0.0, 0.0, 0.0))
    assert (meta.loss, meta.ratings, meta.calibration) == ("mse", "bt", 1.2)
    assert meta.l2_normalize_input is False
    assert meta.version == __version__
    datetime.fromisoformat(meta.created)
    assert meta.params == {**params.to_dict(), "hidden": [32, 8], "dropouts": [0, 0, 0], "seed": 4}
    assert TrainParams.from_dict(meta.params) == params
    assert meta.metrics == result.metrics
    for key in ("heldout_pairwise_accuracy", "heldout_choice_agreement", "train_spearman"):
        assert 0.5 < result.metrics[key] <= 1.0
    assert result.metrics["heldout_choices"] > 0
    assert len(result.history) == result.metrics["epochs_run"]


def test_early_stopping_keeps_the_best_epoch(taste):
    params = TrainParams(hidden=(128, 64), epochs=60, lr=2e-2, patience=3, loss="mse")
    calls = []
    result = train_model(taste, params, META, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("training", 60, 60)  # the bar is finished when it stops early
    losses = [h["heldout_loss"] for h in result.history]
    assert len(losses) < 60  # stopped early
    assert result.metrics["heldout_loss"] == min(losses)
    assert result.metrics["best_epoch"] == 1 + losses.index(min(losses))
    assert result.metrics["epochs_run"] == result.metrics["best_epoch"] + 3


def test_without_heldout_it_trains_every_epoch(taste):
    data = TrainingData(taste.x, taste.scores, taste.winners, taste.losers)
    result = train_model(data, TrainParams(**{**FAST.to_dict(), "epochs": 4}), META)
    assert len(result.history) == 4 and "best_epoch" not in result.metrics


def test_l2_normalised_input_ignores_the_length(taste):
    result = train_model(taste, FAST, {**META, "l2_normalize_input": True})
    assert result.model.meta.l2_normalize_input
    x = taste.x[:20]
    np.testing.assert_allclose(
        result.model.score_embeddings(x), result.model.score_embeddings(x * 7), atol=1e-5
    )


def test_trained_model_round_trips(taste, tmp_path):
    result = train_model(taste, FAST, META)
    loaded = load_model_file(result.model.save(tmp_path / "m.safetensors"))
    assert loaded.meta == result.model.meta
    np.testing.assert_array_equal(
        loaded.score_embeddings(taste.x), result.model.score_embeddings(taste.x)
    )


def test_leaves_global_state_alone(taste):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_model(taste, TrainParams(**{**FAST.to_dict(), "epochs": 2}), META, threads=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_progress_reports_epochs(taste):
    calls = []
    train_model(
        taste,
        TrainParams(**{**FAST.to_dict(), "epochs": 3}),
        META,
        progress=lambda *a: calls.append(a),
    )
    assert calls == [("training", 1, 3), ("training", 2, 3), ("training", 3, 3)]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 0}, "Training needs at least one epoch."),
        (
            {"dropouts": (0.1, 1.0, 0.1)},
            "Training needs three dropouts from 0 up to (not including) 1.",
        ),
        ({"hidden": (0, 4)}, "Training needs two hidden sizes of at least 1."),
        ({"lr": 0.0}, "Training needs a positive learning rate."),
    ],
)
def test_params_are_checked(change, message):
    with pytest.raises(TastemakerError) as e:
        TrainParams(**change)
    assert str(e.value) == message


def test_meta_base_is_checked(taste):
    with pytest.raises(ValueError, match="missing \\['ratings'\\]"):
        train_model(taste, FAST, {k: v for k, v in META.items() if k != "ratings"})


def test_too_few_training_images(taste):
    data = TrainingData(taste.x[:3], taste.scores[:3], [], [], heldout=[True, True, False])
    with pytest.raises(TastemakerError, match="at least two images outside the held-out"):
        train_model(data, FAST, META)


def test_training_data_is_validated_and_copied():
    x = np.zeros((3, 2), np.float32)
    data = TrainingData(x, [1, 2, 3], [0], [1])
    x[0, 0] = 5  # the caller's array may change; the data does not
    assert data.x[0, 0] == 0 and not data.x.flags.writeable
    assert data.weights.tolist() == [1.0] and data.heldout.tolist() == [False] * 3
    with pytest.raises(ValueError, match="index rows"):
        TrainingData(x, [1, 2, 3], [0], [3])
    with pytest.raises(ValueError, match="one value per row"):
        TrainingData(x, [1, 2], [0], [1])
    with pytest.raises(ValueError, match="finite"):
        TrainingData(x, [1, 2, np.nan], [0], [1])


def test_training_data_shares_its_own_frozen_embeddings_and_copies_any_other():
    """The refit's data is the split's with other ratings: the embeddings, the largest
    array, are not copied again; an array someone else can write to still is."""
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    data = TrainingData(x, np.zeros(5), [0], [1])
    assert not np.shares_memory(data.x, x)
    refit = dataclasses.replace(data, scores=np.ones(5))
    assert refit.x is data.x and not refit.x.flags.writeable
    view = data.x[1:]  # read-only, but a view of memory it does not own
    assert not np.shares_memory(TrainingData(view, np.zeros(4), [0], [1]).x, view)

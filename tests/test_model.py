"""The model: shapes, the one-file format, refusals, and LAION's checkpoint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tastemaker.errors import TastemakerError
from tastemaker.model import (
    FORMAT,
    FORMAT_VERSION,
    LAION,
    LAION_RELU,
    ModelMeta,
    TasteMLP,
    TasteModel,
    build_module,
    encode_meta,
    load_laion_checkpoint,
    load_model_file,
    pick_device,
    read_model,
)


def make_meta(**changes) -> ModelMeta:
    meta = ModelMeta(
        extractor="openai/clip-vit-large-patch14",
        layers=(0,),
        layer_mode="join",
        input_dim=12,
        hidden=(8, 4),
        dropouts=(0.1, 0.2, 0.3),
        score_mean=0.25,
        score_sd=1.5,
        l2_normalize_input=False,
        loss="ranking",
        ratings="elo",
        metrics={"heldout_pairwise_accuracy": 0.71, "train_spearman": 0.8},
        calibration=1.7,
        version="0.1.0",
        created="2026-01-02T03:04:05+00:00",
        params={"lr": 0.001, "hidden": [8, 4], "seed": 3},
    )
    return dataclasses.replace(meta, **changes)


def make_model(**changes) -> TasteModel:
    torch.manual_seed(0)
    meta = make_meta(**changes)
    return TasteModel(meta, build_module(meta), device="cpu")


def test_mlp_shapes_and_layers():
    mlp = TasteMLP(12, (8, 4), (0.1, 0.2, 0.3))
    assert mlp(torch.randn(5, 12)).shape == (5,)
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == [
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    linears = [m for m in mlp.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12, 8), (8, 4), (4, 1)]
    assert [m.p for m in mlp.net if isinstance(m, torch.nn.Dropout)] == [0.1, 0.2, 0.3]


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected


def test_scores_are_normalised_deterministic_and_batched():
    model = make_model()
    x = np.random.default_rng(0).normal(size=(50, 12)).astype(np.float32)
    scores = model.score_embeddings(x)
    assert scores.dtype == np.float32 and scores.shape == (50,)
    with torch.no_grad():
        raw = model.module.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(scores, (raw - 0.25) / 1.5, rtol=1e-5, atol=1e-6)
    # eval mode: dropout off, so the same scores every time and in any batch size
    np.testing.assert_array_equal(scores, model.score_embeddings(x))
    np.testing.assert_allclose(scores, model.score_embeddings(x, batch_size=7), atol=1e-6)


def test_wrong_embedding_size_is_refused():
    with pytest.raises(TastemakerError, match=r"12-dimensional embeddings.*shape 3x5"):
        make_model().score_embeddings(np.zeros((3, 5), np.float32))


def test_prob_prefer_is_the_calibrated_sigmoid_of_the_score_difference():
    model = make_model()  # calibration 1.7
    assert model.prob_prefer(0.5, 0.5) == 0.5
    assert model.prob_prefer(1.0, 0.0) == pytest.approx(1 / (1 + np.exp(-1.7)))
    p = model.prob_prefer(np.array([2.0, -1.0]), 0.3)
    assert p + model.prob_prefer(0.3, np.array([2.0, -1.0])) == pytest.approx(1.0)
    with pytest.raises(TastemakerError, match="not calibrated"):
        make_model(calibration=None).prob_prefer(1.0, 0.0)


def test_save_load_round_trip_keeps_weights_scores_and_meta(tmp_path: Path):
    model = make_model()
    path = model.save(tmp_path / "m.safetensors")
    loaded = load_model_file(path, device="cpu")
    assert loaded.meta == model.meta
    for f in dataclasses.fields(ModelMeta):
        assert getattr(loaded.meta, f.name) == getattr(model.meta, f.name), f.name
    assert isinstance(loaded.meta.layers, tuple) and isinstance(loaded.meta.hidden, tuple)
    original, reloaded = model.module.state_dict(), loaded.module.state_dict()
    assert original.keys() == reloaded.keys()
    for key in original:
        torch.testing.assert_close(original[key], reloaded[key], rtol=0, atol=0)
    x = np.random.default_rng(1).normal(size=(9, 12)).astype(np.float32)
    np.testing.assert_array_equal(model.score_embeddings(x), loaded.score_embeddings(x))


def test_header_is_readable_without_tastemaker(tmp_path: Path):
    path = make_model().save(tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    assert header["format"] == FORMAT
    assert header["format_version"] == "1"  # an MLP: older versions read it
    assert header["extractor"] == "openai/clip-vit-large-patch14"  # plain strings stay plain
    assert json.loads(header["hidden"]) == [8, 4]
    assert json.loads(header["metrics"])["heldout_pairwise_accuracy"] == 0.71
    assert json.loads(header["calibration"]) == 1.7


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value) == f"Model file {path} does not exist."


def test_not_safetensors(tmp_path: Path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"this is not a model at all")
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value) == f"{path} is not a .safetensors model file."


def test_a_pth_file_given_as_model_file_names_the_fix(tmp_path: Path):
    path = tmp_path / "model.pth"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(TastemakerError, match="load_laion_checkpoint") as e:
        load_model_file(path)
    assert str(path) in str(e.value)


def test_safetensors_but_not_tastemaker(tmp_path: Path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value) == (
        f"{path} is a .safetensors file but not a tastemaker model "
        "(its header lacks format: tastemaker-mlp)."
    )


def _rewrite_header(path: Path, change) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = dict(f.metadata())
    tensors = load_file(str(path))
    change(header)
    save_file(tensors, str(path), metadata=header)


def test_metadata_missing_a_field(tmp_path: Path):
    path = make_model().save(tmp_path / "m.safetensors")
    _rewrite_header(path, lambda h: h.pop("score_sd"))
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value) == f"{path} is a tastemaker model but its metadata lacks 'score_sd'."


@pytest.mark.parametrize(
    "key, value",
    [("hidden", "[8, "), ("score_sd", "0"), ("metrics", "[1, 2]"), ("format_version", "x")],
)
def test_metadata_corrupt(tmp_path: Path, key: str, value: str):
    path = make_model().save(tmp_path / "m.safetensors")
    _rewrite_header(path, lambda h: h.update({key: value}))
    with pytest.raises(TastemakerError, match="is a tastemaker model but its") as e:
        load_model_file(path)
    assert str(path) in str(e.value)


def test_weights_that_do_not_match_the_metadata(tmp_path: Path):
    path = make_model().save(tmp_path / "m.safetensors")
    _rewrite_header(path, lambda h: h.update({"hidden": "[16, 4]"}))
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert (
        str(e.value) == f"{path} is a tastemaker model but its weights do not match its metadata."
    )


def test_new_files_say_how_their_layers_are_numbered(tmp_path: Path):
    path = make_model(layers=(0, 2), input_dim=12).save(tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["layer_convention"] == "seed"
    assert load_model_file(path).meta.layer_convention == "seed"


@pytest.mark.parametrize(
    "extractor, layers, refused",
    [
        ("openai/clip-vit-large-patch14", [1], True),  # CLIP's layer 1 changed meaning
        ("openai/clip-vit-base-patch32", [0, 2], True),
        ("openai/clip-vit-large-patch14", [0], False),  # layer 0 never changed
        ("facebook/dinov2-base", [1], False),  # nor did other families' layers
        ("someone/not-downloaded", [1], True),  # it may be a CLIP: cannot tell
    ],
)
def test_a_file_from_before_the_seeds_layer_numbering(
    tmp_path: Path, monkeypatch, extractor, layers, refused
):
    """A file without layer_convention numbered CLIP's layers n > 0 as raw
    hidden_states[-n]; scoring it with the seed's features would be silently wrong."""
    monkeypatch.setenv("TASTEMAKER_ALLOW_EXTRACTORS", "someone/not-downloaded")
    path = make_model().save(tmp_path / "old.safetensors")
    _rewrite_header(path, lambda h: h.pop("layer_convention"))
    _rewrite_header(path, lambda h: h.update(extractor=extractor, layers=json.dumps(layers)))
    if not refused:
        assert load_model_file(path).meta.layer_convention == "seed"  # means what it says
        return
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value) == (
        f"{path} was trained before tastemaker numbered CLIP layers as the classic scorer "
        f"does; its layers {','.join(map(str, layers))} of {extractor} now give other features: "
        "retrain it to use it."
    )


def test_newer_format_version(tmp_path: Path):
    path = make_model().save(tmp_path / "m.safetensors")
    _rewrite_header(path, lambda h: h.update({"format_version": str(FORMAT_VERSION + 1)}))
    with pytest.raises(TastemakerError, match=r"newer tastemaker.*upgrade") as e:
        load_model_file(path)
    assert str(path) in str(e.value)


# LAION's improved aesthetic predictor: nn.Sequential of Linear(768, 1024), Dropout,
# Linear(1024, 128), Dropout, Linear(128, 64), Dropout, Linear(64, 16), Linear(16, 1).
LAION_SHAPES = [(0, 768, 1024), (2, 1024, 128), (4, 128, 64), (6, 64, 16), (7, 16, 1)]


def laion_state(indices=(0, 2, 4, 6, 7)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for i, (_, d_in, d_out) in zip(indices, LAION_SHAPES, strict=True):
        state[f"layers.{i}.weight"] = torch.randn(d_out, d_in, generator=g) / d_in**0.5
        state[f"layers.{i}.bias"] = torch.randn(d_out, generator=g) * 0.1
    return state


def laion_reference(state: dict, x: np.ndarray, indices=(0, 2, 4, 6, 7), relu=False):
    """LAION's forward pass by hand: L2-normalise, then the Linear layers in turn."""
    h = torch.from_numpy(x).double()
    h = h / h.norm(dim=1, keepdim=True)
    for n, i in enumerate(indices):
        h = h @ state[f"layers.{i}.weight"].double().T + state[f"layers.{i}.bias"].double()
        if relu and n < 4:
            h = torch.relu(h)
    return h.squeeze(1).numpy()


def test_laion_checkpoint_scores_like_laion_and_converts(tmp_path: Path):
    state = laion_state()
    pth = tmp_path / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(state, pth)
    model = load_laion_checkpoint(pth, device="cpu")
    assert model.meta.extractor == "openai/clip-vit-large-patch14"
    assert model.meta.layers == (0,)
    assert model.meta.l2_normalize_input is True
    assert (model.meta.score_mean, model.meta.score_sd) == (0.0, 1.0)
    assert model.meta.architecture == LAION
    assert model.meta.hidden == (1024, 128, 64, 16)
    x = np.random.default_rng(0).normal(size=(20, 768)).astype(np.float32) * 3
    expected = laion_reference(state, x)
    np.testing.assert_allclose(model.score_embeddings(x), expected, rtol=1e-4, atol=1e-5)

    converted = model.save(tmp_path / "laion.safetensors")
    again = load_model_file(converted, device="cpu")
    assert again.meta == model.meta
    np.testing.assert_array_equal(again.score_embeddings(x), model.score_embeddings(x))
    assert set(load_file(str(converted))) == set(state)  # LAION's own parameter names
    # read_model picks the reader by suffix
    assert read_model(converted).meta == model.meta
    from_pth = read_model(pth).meta
    assert dataclasses.replace(from_pth, created=model.meta.created) == model.meta


def test_laion_relu_variant(tmp_path: Path):
    indices = (0, 3, 6, 9, 11)  # nn.ReLU() after each hidden Linear shifts the indices
    state = laion_state(indices)
    pth = tmp_path / "ava+logos-l14-reluMSE.pth"
    torch.save(state, pth)
    model = load_laion_checkpoint(pth)
    assert model.meta.architecture == LAION_RELU
    x = np.random.default_rng(0).normal(size=(6, 768)).astype(np.float32)
    expected = laion_reference(state, x, indices, relu=True)
    np.testing.assert_allclose(model.score_embeddings(x), expected, rtol=1e-4, atol=1e-5)
    again = load_model_file(model.save(tmp_path / "relu.safetensors"))
    np.testing.assert_array_equal(again.score_embeddings(x), model.score_embeddings(x))


def test_laion_bad_checkpoints(tmp_path: Path):
    missing = tmp_path / "absent.pth"
    with pytest.raises(TastemakerError, match=f"Checkpoint {missing} does not exist"):
        load_laion_checkpoint(missing)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(1, 768)}, wrong)
    with pytest.raises(TastemakerError) as e:
        load_laion_checkpoint(wrong)
    assert str(e.value).startswith(f"{wrong} is not a LAION aesthetic-predictor checkpoint")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TastemakerError, match=r"junk\.pth is not a PyTorch checkpoint"):
        load_laion_checkpoint(junk)


def test_encode_meta_is_all_strings():
    header = encode_meta(make_meta(calibration=None))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in header.items())
    assert header["calibration"] == "null"


# -- what a model file may hold ---------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("score_mean", "NaN", "'score_mean' should be a finite number, not NaN"),
        ("score_sd", "Infinity", "'score_sd' should be a finite number above 0"),
        ("calibration", "-Infinity", "'calibration' should be a finite number or null"),
        ("params", "[" * 100_000 + "]" * 100_000, "'params' is nested too deeply"),
        ("metrics", '{"a": ' * 5000 + "1" + "}" * 5000, "'metrics' is nested too deeply"),
        ("input_dim", "9" * 5000, "'input_dim' is not valid JSON"),
        ("hidden", '["a", "b"]', "'hidden' should be a list of layer sizes"),
        ("layers", "5", "'layers' should be a list of layer numbers, not 5"),
        ("dropouts", "[2, 0, 0]", "'dropouts' should be a list of rates from 0 to 1"),
        ("input_dim", "true", "'input_dim' should be a whole number"),
        ("l2_normalize_input", "1", "'l2_normalize_input' should be true or false"),
        ("metrics", '{"a": "x"}', "'metrics' should be an object of numbers"),
        ("architecture", "cnn", "'architecture' should be one of mlp, laion, laion-relu"),
        ("layer_mode", "sum", '\'layer_mode\' should be "join" or "average"'),
        ("layer_convention", "raw", '\'layer_convention\' should be "seed", not "raw"'),
    ],
)
def test_a_damaged_or_mistyped_header_field_is_named(tmp_path: Path, key, value, problem):
    path = make_model().save(tmp_path / "m.safetensors")
    _rewrite_header(path, lambda h: h.update({key: value}))
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    message = str(e.value)
    assert message.startswith(f"{path} is a tastemaker model but its metadata field ")
    assert problem in message and "\n" not in message and len(message) < 300


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_by_name(tmp_path: Path, bad: float):
    path = make_model().save(tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    tensors["net.4.weight"][1, 2] = bad
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(TastemakerError, match=r"its weight net\.4\.weight holds NaN or infinite"):
        load_model_file(path)
    state = laion_state()
    state["layers.7.bias"][0] = bad
    torch.save(state, tmp_path / "laion.pth")
    with pytest.raises(TastemakerError, match=r"its weight layers\.7\.bias holds NaN"):
        read_model(tmp_path / "laion.pth")


def test_a_header_cannot_name_a_hub_model_to_download(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("TASTEMAKER_ALLOW_EXTRACTORS", raising=False)
    path = make_model(extractor="someone/any-repository").save(tmp_path / "m.safetensors")
    with pytest.raises(TastemakerError) as e:
        load_model_file(path)
    assert str(e.value).startswith(f"{path} names the extractor 'someone/any-repository'")
    assert "hf download someone/any-repository" in str(e.value)
    assert "TASTEMAKER_ALLOW_EXTRACTORS=someone/any-repository" in str(e.value)
    monkeypatch.setenv("TASTEMAKER_ALLOW_EXTRACTORS", "other/one, someone/any-repository")
    assert load_model_file(path).meta.extractor == "someone/any-repository"
    named = make_model(extractor="no such thing").save(tmp_path / "n.safetensors")
    with pytest.raises(TastemakerError, match="its extractor cannot be used: Unknown extractor"):
        load_model_file(named)


def test_an_image_the_model_gives_no_finite_score_is_skipped_by_name(tmp_path: Path, tiny_model):
    from conftest import local_client, make_images

    from tastemaker.storage.library import open_library
    from tastemaker.workflows.rate import RateSession, RateSettings
    from tastemaker.workflows.score import layer_choice, library_model_scores, score_images

    model = read_model(tiny_model, device="cpu")
    make_images(tmp_path / "lib", 6)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        library_model_scores(library, model)  # fills the embedding cache
        broken = library.store.images("present")[2]
        # what a float16 overflow on a GPU leaves behind
        nan = np.full(model.meta.input_dim, np.nan, np.float32)
        key = layer_choice(model).key
        library.store.add_embeddings(model.meta.extractor, key, {broken.hash: nan})
        scored = library_model_scores(library, model)
        assert broken.id not in scored.scores and len(scored.scores) == 5
        assert all(np.isfinite(list(scored.scores.values())))
        assert scored.failures == [
            (broken.path, "the model gives it no finite score (NaN or infinite)")
        ]
        session = RateSession(
            library, RateSettings(controversy=1.0), seed=0, model_scores=scored.scores
        )
        with local_client(session) as client:
            for _ in range(10):
                s = client.get("/api/next").json()
                winner = s["images"][0]["id"]
                assert (
                    client.post(
                        "/api/choose", json={"pair": s["pair"], "winner": winner}
                    ).status_code
                    == 200
                )
            assert client.get("/api/stats").status_code == 200
    overflowing = read_model(tiny_model, device="cpu")
    overflowing.module.net[-1].weight.data.fill_(3e38)
    overflowing.module.net[-1].bias.data.fill_(3e38)
    images = make_images(tmp_path / "more", 3)
    result = score_images(overflowing, images)
    assert result.scores == [None] * 3
    assert [problem for _, problem in result.failures] == [
        "the model gives it no finite score (NaN or infinite)"
    ] * 3


# -- model files of every kind, old and new ---------------------------------------------

OLD_MLP = Path(__file__).parent / "data" / "mlp-0.1.0.safetensors"


def test_a_model_file_written_by_tastemaker_0_1_0_still_loads_and_scores():
    """The file was saved by the first version (an MLP, format_version 1); its scores of
    these embeddings were recorded then."""
    model = load_model_file(OLD_MLP)
    assert model.meta.architecture == "mlp" and not model.has_uncertainty
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    then = [-0.42243138, -0.37281475, -0.39093646, -0.42465350, -0.42348254]
    np.testing.assert_allclose(model.score_embeddings(x), then, rtol=1e-6)
    assert np.isnan(model.scores_and_uncertainties(x)[1]).all()


def kernel_model(n: int = 80, d: int = 6) -> tuple[TasteModel, np.ndarray]:
    """A kernel model of a taste rated on images with a positive first coordinate."""
    from tastemaker.training.learners import learn
    from tastemaker.training.synthetic import synthetic_taste

    taste = synthetic_taste(n=n, d=d, choices_per_image=4, seed=2)
    x = taste.x.copy()
    x[:, 0] = np.abs(x[:, 0]) + 0.5
    taste = dataclasses.replace(taste, x=x)
    full = dataclasses.replace(taste, heldout=np.zeros(n, bool))
    meta = {"extractor": "efficientnet-lite0", "layers": (0,), "layer_mode": "join"}
    return learn(taste, full, meta | {"ratings": "bt"}).model, taste.x


def test_a_kernel_model_file_round_trips_with_its_uncertainty(tmp_path: Path):
    model, x = kernel_model()
    path = model.save(tmp_path / "k.safetensors")
    again = load_model_file(path)
    assert again.meta == model.meta and again.has_uncertainty
    np.testing.assert_array_equal(again.score_embeddings(x), model.score_embeddings(x))
    scores, spread = model.scores_and_uncertainties(x)
    np.testing.assert_array_equal(again.scores_and_uncertainties(x)[1], spread)
    np.testing.assert_array_equal(scores, model.score_embeddings(x))  # the same either way
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format_version"] == "2"  # older versions ask to be upgraded
        assert f.get_tensor("variance").dtype == torch.float64


def test_a_kernel_models_uncertainty_is_larger_far_from_what_was_rated():
    model, x = kernel_model()
    far = -x  # where no rated image lies
    near, away = model.scores_and_uncertainties(x)[1], model.scores_and_uncertainties(far)[1]
    assert np.all(near >= 0) and np.median(away) > 1.5 * np.median(near)
    # in score units: the head's standard deviation over the training scores' sd
    head_sd = model.module.predict(far)[1] / model.meta.score_sd
    np.testing.assert_allclose(away, head_sd, rtol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.update({"params": json.dumps({"kernel": {"kind": "poly"}})}),
        lambda h: h.update({"params": json.dumps({})}),
        lambda h: h.update({"hidden": "[3, 4]"}),
    ],
)
def test_a_damaged_kernel_header_is_one_clear_error(tmp_path: Path, change):
    path = kernel_model()[0].save(tmp_path / "k.safetensors")
    _rewrite_header(path, change)
    with pytest.raises(TastemakerError, match="is a tastemaker model but its metadata is damaged"):
        load_model_file(path)

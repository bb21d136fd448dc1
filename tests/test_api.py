import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_images, noise_image
from PIL import Image

import tastemaker
from tastemaker.errors import TastemakerError
from tastemaker.model import load_model_file


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("api"), 4, size=(40, 30))


def test_scores_are_the_same_whatever_holds_the_image(tiny_model, pictures):
    model = tastemaker.load_model(tiny_model)
    from_paths = model.score(pictures)
    assert len(from_paths) == 4 and all(isinstance(s, float) for s in from_paths)
    assert len(set(from_paths)) > 1
    pil = [Image.open(p) for p in pictures]
    assert model.score(pil) == pytest.approx(from_paths, abs=1e-5)
    arrays = [np.asarray(im.convert("RGB")) for im in pil]
    assert model.score(arrays) == pytest.approx(from_paths, abs=1e-5)
    comfy = torch.tensor(np.stack(arrays), dtype=torch.float32) / 255.0  # [B, H, W, C] 0..1
    assert model.score(comfy) == pytest.approx(from_paths, abs=1e-5)
    assert model.score(str(pictures[0])) == pytest.approx(from_paths[:1], abs=1e-5)
    assert model.score([]) == []


def test_a_kernel_model_gives_each_score_its_uncertainty(
    tiny_kernel_model, tiny_model, tiny_taste, tmp_path
):
    """Small for an image it learnt from, large for one unlike any; NaN for an MLP."""
    seen, far = tiny_taste.paths[0], noise_image(tmp_path / "noise.png")
    model = tastemaker.load_model(tiny_kernel_model)
    assert model.has_uncertainty
    scores, spread = model.score([seen, far], uncertainty=True)
    assert scores == model.score([seen, far])
    assert 0 < spread[0] < spread[1]
    comfy = torch.tensor(np.asarray(Image.open(far).convert("RGB")), dtype=torch.float32) / 255.0
    assert model.score(comfy, uncertainty=True)[1] == pytest.approx(spread[1:], rel=1e-5)
    assert model.score([], uncertainty=True) == ([], [])

    mlp = tastemaker.load_model(tiny_model)
    assert not mlp.has_uncertainty
    scores, spread = mlp.score([seen, far], uncertainty=True)
    assert scores == mlp.score([seen, far]) and np.isnan(spread).all() and len(spread) == 2


def test_models_are_loaded_once_per_process(tiny_model):
    assert tastemaker.load_model(tiny_model) is tastemaker.load_model(str(tiny_model))


def test_metadata_says_what_the_model_needs(tiny_model):
    meta = tastemaker.load_model(tiny_model).metadata
    assert meta["extractor"].endswith("tiny-clip0") and meta["layers"] == (0,)
    assert meta["version"] == tastemaker.__version__


def test_prob_prefer_needs_a_calibrated_model(tiny_model, pictures, tmp_path):
    with pytest.raises(TastemakerError, match="not calibrated"):
        tastemaker.load_model(tiny_model).prob_prefer(pictures[0], pictures[1])
    model = load_model_file(tiny_model)
    model.meta = dataclasses.replace(model.meta, calibration=1.5)
    calibrated = tastemaker.load_model(model.save(tmp_path / "calibrated.safetensors"))
    p = calibrated.prob_prefer(pictures[0], pictures[1])
    s = calibrated.score(pictures[:2])
    assert p == pytest.approx(1 / (1 + np.exp(-1.5 * (s[0] - s[1]))), abs=1e-6)
    assert p + calibrated.prob_prefer(pictures[1], pictures[0]) == pytest.approx(1.0)


def test_bad_inputs_are_clear_errors(tiny_model, tmp_path):
    model = tastemaker.load_model(tiny_model)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    with pytest.raises(TastemakerError, match=r"broken\.png: cannot be read as an image"):
        model.score([broken])
    with pytest.raises(TastemakerError, match=r"\[B, H, W, C\]"):
        model.score(torch.zeros(2, 3, 8, 8, 8))
    with pytest.raises(TastemakerError, match="Cannot score a int"):
        model.score([42])
    with pytest.raises(TastemakerError, match="no such model file"):
        tastemaker.load_model(tmp_path / "missing.safetensors")


def test_a_library_folder_finds_its_model_in_a_store_kept_elsewhere(
    tiny_model, tmp_path, monkeypatch
):
    images, store = tmp_path / "images", tmp_path / "store"
    make_images(images, 2)
    monkeypatch.setenv("TASTEMAKER_STORE", str(store))
    with tastemaker.open_library(images) as library:
        library.store.add_model(str(tiny_model), "tiny", "final", {})
    assert not (images / ".tastemaker").exists()
    assert tastemaker.load_model(images).source == tiny_model.resolve()


def test_errors_say_what_to_change_without_naming_a_cli_flag(
    tiny_model, pictures, tmp_path, monkeypatch
):
    """Raised through the Python API, an error names the setting as the API spells it."""
    import huggingface_hub

    from tastemaker.errors import SettingError

    unknown = "someone/no-such-model"
    model = load_model_file(tiny_model)
    model.meta = dataclasses.replace(model.meta, extractor=unknown)
    path = model.save(tmp_path / "elsewhere.safetensors")
    monkeypatch.setenv("TASTEMAKER_ALLOW_EXTRACTORS", unknown)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SettingError) as raised:
        tastemaker.load_model(path).score(pictures[:1])
    assert raised.value.setting == "extractor"
    assert "Use extractor efficientnet-lite0 (bundled" in str(raised.value)
    assert "--" not in str(raised.value)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / ".tastemaker").write_text("a file where the store would go")
    with pytest.raises(SettingError) as raised:
        tastemaker.open_library(tmp_path / "lib")
    assert raised.value.setting == "store" and "--" not in str(raised.value)
    assert "keep the store elsewhere with store DIR" in str(raised.value)


def test_files_in_a_library_are_scored_from_its_embedding_cache(tiny_model, tmp_path):
    """The cached embedding is used, not a fresh one: a planted vector gives its own score."""
    model = tastemaker.load_model(tiny_model)
    first, second = make_images(tmp_path / "lib", 2)
    planted = np.full((1, model.model.meta.input_dim), 0.5, np.float32)
    with tastemaker.open_library(tmp_path / "lib") as library:
        library.scan()
        (image,) = [im for im in library.store.images() if im.path == first.name]
        library.store.add_embeddings(model.metadata["extractor"], "0", {image.hash: planted[0]})
    fresh = model.score([Image.open(first), Image.open(second)])
    scores = model.score([first, Image.open(second), second])
    assert scores[0] == pytest.approx(float(model.model.score_embeddings(planted)[0]), abs=1e-6)
    assert scores[0] != pytest.approx(fresh[0], abs=1e-3)
    assert scores[1:] == pytest.approx([fresh[1], fresh[1]], abs=1e-5)

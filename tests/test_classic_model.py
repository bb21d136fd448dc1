"""The classic project's model files, written here to its exact formats (both eras, and
LAION's predictor as it ships it), read through the CLI, the Python API and the ComfyUI
node; their scores checked against its forward pass computed here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_images
from safetensors.torch import save_file
from test_model import laion_reference, laion_state
from typer.testing import CliRunner

import tastemaker
from tastemaker.cli import app
from tastemaker.comfyui.nodes import LoadTasteModel
from tastemaker.errors import TastemakerError
from tastemaker.features.extract import extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor
from tastemaker.model import LAION, load_model_file

runner = CliRunner()
HIDDEN = (24, 12)
MEAN, SD = 0.3, 1.7  # its mean_predicted_score and stdev_predicted_score


def classic_weights(d: int, prefix: str, final_bias: bool = True) -> dict[str, torch.Tensor]:
    """Its AestheticPredictor's Linear layers (at 1, 4 and 7 of its Sequential)."""
    g = torch.Generator().manual_seed(1)
    weights = {}
    for i, (d_in, d_out) in zip((1, 4, 7), [(d, 24), (24, 12), (12, 1)], strict=True):
        weights[f"{prefix}.{i}.weight"] = torch.randn(d_out, d_in, generator=g) / d_in**0.5
        weights[f"{prefix}.{i}.bias"] = torch.randn(d_out, generator=g) * 0.3
    if not final_bias:
        del weights[f"{prefix}.7.bias"]
    return weights


def classic_forward(weights: dict[str, torch.Tensor], prefix: str, x: np.ndarray) -> np.ndarray:
    """Its forward pass by hand (dropouts off): Linear, ReLU, Linear, ReLU, Linear."""
    h = torch.from_numpy(x).double()
    for n, i in enumerate((1, 4, 7)):
        bias = weights.get(f"{prefix}.{i}.bias")
        h = h @ weights[f"{prefix}.{i}.weight"].double().T
        h = h + bias.double() if bias is not None else h
        h = torch.relu(h) if n < 2 else h
    return h.squeeze(1).numpy()


def save_classic(path: Path, weights: dict[str, torch.Tensor], **metadata: str) -> Path:
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path), metadata=metadata)
    return path


def embeddings(tiny_clip: Path, paths: list[Path], layers: tuple[int, ...]) -> np.ndarray:
    extractor = load_extractor(str(tiny_clip))
    batches = extract(extractor, paths, LayerChoice(layers), workers=0)
    return np.concatenate([b.vectors for b in batches])


def cli_scores(model: Path, folder: Path) -> dict[str, float]:
    result = runner.invoke(app, ["score", str(model), str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return {Path(r["path"]).name: r["score"] for r in json.loads(result.stdout)}


def assert_scored_everywhere(model: Path, images: list[Path], expected: np.ndarray) -> None:
    """The CLI's ``score``, the Python API and the ComfyUI loader all give ``expected``."""
    by_name = cli_scores(model, images[0].parent)
    got = np.array([by_name[p.name] for p in images])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    api = tastemaker.load_model(model).score(images)
    np.testing.assert_allclose(api, expected, rtol=1e-4, atol=1e-5)
    (loaded,) = LoadTasteModel().load(model_name="", path=str(model))
    np.testing.assert_allclose(loaded.score(images), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("used", ["0", "0,2"])
def test_a_current_classic_model_scores_as_it_does(tiny_clip: Path, tmp_path: Path, used: str):
    images = make_images(tmp_path / "imgs", 5, size=(40, 32))
    layers = tuple(int(n) for n in used.split(","))
    x = embeddings(tiny_clip, images, layers)
    weights = classic_weights(x.shape[1], "main_process")
    model = save_classic(
        tmp_path / "model.safetensors",
        weights,
        feature_extractor_model=str(tiny_clip),
        hidden_states_used=used,
        hidden_states_mode="join",
        number_of_features=str(x.shape[1]),
        layers="24,12",
        output_channels="1",
        mean_predicted_score=str(MEAN),
        stdev_predicted_score=str(SD),
        n_images="40",
    )
    meta = load_model_file(model).meta
    assert (meta.extractor, meta.layers, meta.hidden) == (str(tiny_clip), layers, HIDDEN)
    assert meta.params == {"source": "model.safetensors", "n_images": "40"}
    expected = (classic_forward(weights, "main_process", x) - MEAN) / SD
    assert_scored_everywhere(model, images, expected)


def test_an_early_classic_model_with_weighted_layers_and_no_final_bias(
    tiny_clip: Path, tmp_path: Path
):
    images = make_images(tmp_path / "imgs", 5, size=(40, 32))
    both = embeddings(tiny_clip, images, (0, 1))
    layer0, layer1 = np.split(both, 2, axis=1)
    weights = classic_weights(layer0.shape[1], "parallel_blocks.0", final_bias=False)
    # its preprocess weighs the last two hidden states in order: layer 1, then layer 0
    w = torch.tensor([[0.6, -1.3]])
    model = save_classic(
        tmp_path / "old.safetensors",
        weights | {"preprocess.weight": w},
        feature_extractor_model=str(tiny_clip),
        layers="[24, 12]",
        output_channels="1",
        final_layer_bias="False",
        weight_n_output_layers="2",
    )
    mixed = (0.6 * layer1 + -1.3 * layer0).astype(np.float32)
    expected = classic_forward(weights, "parallel_blocks.0", mixed)  # no mean or sd: raw
    assert load_model_file(model).meta.layers == (0, 1)
    assert_scored_everywhere(model, images, expected)


def test_laion_safetensors_as_the_classic_project_ships_it(tmp_path: Path):
    state = laion_state()
    path = tmp_path / "sac+logos+ava1-l14-linearMSE.safetensors"
    save_file(state, str(path))  # LAION's weight names, no tastemaker header
    model = load_model_file(path)
    assert (model.meta.architecture, model.meta.extractor) == (
        LAION,
        "openai/clip-vit-large-patch14",
    )
    x = np.random.default_rng(0).normal(size=(7, 768)).astype(np.float32)
    np.testing.assert_allclose(model.score_embeddings(x), laion_reference(state, x), atol=1e-5)


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"hidden_states_mode": "weight"}, "its hidden_states_mode 'weight' is not one"),
        ({"output_channels": "2"}, "it has several outputs"),
        ({"layers": "24"}, "it has 1 hidden layers; tastemaker reads those with two"),
        ({"stdev_predicted_score": "nan"}, "its stdev_predicted_score is not finite"),
    ],
)
def test_classic_models_it_cannot_reproduce_are_refused_in_one_line(
    tiny_clip: Path, tmp_path: Path, metadata: dict[str, str], problem: str
):
    model = save_classic(
        tmp_path / "model.safetensors",
        classic_weights(16, "main_process"),
        **{"feature_extractor_model": str(tiny_clip), "layers": "24,12"} | metadata,
    )
    with pytest.raises(TastemakerError) as e:
        load_model_file(model)
    assert str(e.value).startswith(f"{model} is a model of the classic project but {problem}")
    result = runner.invoke(app, ["score", str(model), str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output

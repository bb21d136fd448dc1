"""The classic project's model files (chrisgoringe/Custom-classifier-training): its
``AestheticPredictor`` saved as ``.safetensors``, read as the same MLP tastemaker trains.

Its network is tastemaker's classic MLP (dropout, Linear, ReLU twice, dropout, Linear),
so loading it is a rename of its weights and a reading of its string metadata:
``feature_extractor_model``, ``hidden_states_used`` (``"0"``, ``"0,2"``),
``hidden_states_mode``, ``layers`` (``"24,12"``), ``output_channels``,
``mean_predicted_score`` and ``stdev_predicted_score`` (which become the score
normalisation). Its layer numbering is the one tastemaker uses (features.layers).

Two eras of its files are read: ``main_process.{1,4,7}`` (current), and the earlier
``parallel_blocks.0.{1,4,7}``, where the final Linear may lack its bias (it then adds
nothing, as the classic code fills it with 0) and ``preprocess.weight`` may weigh its
extractor's last n output layers: ``W1 · Σ wᵢ·layerᵢ`` equals ``[w·W1 …] · join(layers)``,
so such a file becomes an MLP on the joined layers with nothing lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from tastemaker import __version__
from tastemaker.errors import TastemakerError
from tastemaker.model import MLP, ModelMeta, now_iso

MARKER = "feature_extractor_model"  # the metadata field every classic model file has
_PREFIXES = ("main_process.", "parallel_blocks.0.")
_Refuse = Callable[[str], TastemakerError]


def is_classic(header: dict[str, str]) -> bool:
    """Whether a safetensors header is one the classic project wrote for a model."""
    return MARKER in header


def classic_model(
    path: Path, header: dict[str, str], tensors: dict[str, torch.Tensor]
) -> tuple[ModelMeta, dict[str, torch.Tensor]]:
    """The meta and the :class:`~tastemaker.model.TasteMLP` weights of a classic model
    file; a file tastemaker cannot reproduce exactly is refused, saying why."""

    def refuse(problem: str) -> TastemakerError:
        return TastemakerError(f"{path} is a model of the classic project but {problem}.")

    weights = _renamed(tensors, refuse)
    mode = header.get("hidden_states_mode", "join")
    if mode == "default":  # the extractor's default, which is join for all it knew
        mode = "join"
    if mode not in ("join", "average"):
        raise refuse(f"its hidden_states_mode {mode!r} is not one tastemaker reproduces")
    if header.get("output_channels", "1").strip() != "1":
        raise refuse("it has several outputs (output_channels); tastemaker scores one")
    hidden = _numbers(header.get("layers", ""), "layers", refuse)
    if len(hidden) != 2:
        raise refuse(f"it has {len(hidden)} hidden layers; tastemaker reads those with two")
    layers = _numbers(header.get("hidden_states_used", "0"), "hidden_states_used", refuse)
    if "preprocess.weight" in weights:
        layers, weights = _weighted_layers(weights, refuse)
        mode = "join"
    mean = _number(header.get("mean_predicted_score", "0"), "mean_predicted_score", refuse)
    sd = _number(header.get("stdev_predicted_score", "1"), "stdev_predicted_score", refuse)
    if not sd > 0:
        raise refuse(f"its stdev_predicted_score is {sd}, not above 0")
    meta = ModelMeta(
        extractor=header[MARKER],
        layers=tuple(layers),
        layer_mode=mode,
        input_dim=int(weights["net.1.weight"].shape[1]),
        hidden=(hidden[0], hidden[1]),
        dropouts=(0.0, 0.0, 0.0),  # not kept in its files; scoring does not use them
        score_mean=mean,
        score_sd=sd,
        l2_normalize_input=False,
        loss="mse",
        ratings="elo",
        version=__version__,
        created=now_iso(),
        params={"source": path.name} | {k: header[k] for k in ("n_images",) if k in header},
        architecture=MLP,
    )
    return meta, weights


def _renamed(tensors: dict[str, torch.Tensor], refuse: _Refuse) -> dict[str, torch.Tensor]:
    """Its weights under TasteMLP's names (``net.``); a missing final bias as zeros."""
    weights: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            name = "net." + name.removeprefix(prefix)
        weights[name] = tensor
    if "net.7.weight" in weights and "net.7.bias" not in weights:
        weights["net.7.bias"] = torch.zeros(weights["net.7.weight"].shape[0])
    if "net.1.weight" not in weights:
        found = ", ".join(sorted(tensors)[:4]) or "none"
        raise refuse(f"its weights are not those of its AestheticPredictor (found {found})")
    return weights


def _weighted_layers(
    weights: dict[str, torch.Tensor], refuse: _Refuse
) -> tuple[list[int], dict[str, torch.Tensor]]:
    """Fold ``preprocess.weight`` (one weight per output layer, over the last n hidden
    states in order, so its i-th weighs layer n-1-i) into the first Linear, which then
    reads layers 0..n-1 joined."""
    w = weights.pop("preprocess.weight")
    if w.ndim != 2 or w.shape[0] != 1:
        raise refuse(f"its preprocess.weight has shape {tuple(w.shape)}, not (1, n)")
    n = w.shape[1]
    first = weights["net.1.weight"]
    blocks = [w[0, n - 1 - k] * first for k in range(n)]
    return list(range(n)), weights | {"net.1.weight": torch.cat(blocks, dim=1)}


def _numbers(text: str, field: str, refuse: _Refuse) -> list[int]:
    """``"24,12"`` or ``"[24, 12]"`` as numbers."""
    try:
        return [int(part) for part in text.strip().strip("[]").split(",")]
    except ValueError:
        raise refuse(f"its {field} {text!r} is not a list of whole numbers") from None


def _number(text: str, field: str, refuse: _Refuse) -> float:
    try:
        value = float(text)
    except ValueError:
        raise refuse(f"its {field} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise refuse(f"its {field} is not finite")
    return value

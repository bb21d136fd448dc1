"""The Python API: load a taste model once per process and score whatever holds images:
paths, PIL images, numpy arrays, or torch tensors in ComfyUI's ``[B, H, W, C]`` float
0..1 layout."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tastemaker.errors import TastemakerError
from tastemaker.model import TasteModel, read_model
from tastemaker.storage.library import Library, store_dir
from tastemaker.training.calibration import prob_prefer
from tastemaker.workflows.score import score_images

ImageLike = str | os.PathLike[str] | Image.Image | np.ndarray | torch.Tensor


class TasteScorer:
    """A loaded model: ``score(images)`` gives one float per image on the model's
    normalised scale (mean 0, sd 1 over its training images)."""

    def __init__(self, model: TasteModel, source: Path) -> None:
        self.model = model
        self.source = source

    @property
    def metadata(self) -> dict[str, Any]:
        return asdict(self.model.meta)

    def score(self, images: ImageLike | Iterable[ImageLike]) -> list[float]:
        """One score per image, in order; an unreadable image is an error naming it."""
        items = to_images(images)
        if not items:
            return []
        result = score_images(self.model, items)
        if result.failures:
            i, problem = result.failures[0]
            raise TastemakerError(f"{items[i]}: {problem}")
        return [float(s) for s in result.scores if s is not None]

    def prob_prefer(self, a: ImageLike, b: ImageLike) -> float:
        """P(the person prefers ``a`` over ``b``) = sigmoid(c * (sA - sB)), with the scale
        ``c`` fitted on held-out choices when the model was trained."""
        c = self.model.meta.calibration
        if c is None:
            raise TastemakerError(
                f"{self.source} is not calibrated (retrain it with this tastemaker) "
                "so it gives scores, not probabilities."
            )
        s_a, s_b = self.score([a, b]) if not _is_batch(a) else (*self.score(a), *self.score(b))
        return float(prob_prefer(c, s_a, s_b))


def load_model(path_or_name: str | os.PathLike[str]) -> TasteScorer:
    """The model in a ``.safetensors`` file (or LAION's ``.pth``), or a library folder's
    latest model; loaded once per process (again only if the file changes)."""
    path = resolve_model_path(path_or_name)
    return _load(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> TasteScorer:
    return TasteScorer(read_model(path), path)


def resolve_model_path(path_or_name: str | os.PathLike[str]) -> Path:
    """A model file, or the newest model registered in a library folder."""
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir() and (store_dir(path) / "library.db").is_file():
        with Library(path) as library:
            models = library.store.models()
        if models:
            return Path(models[-1].path)
        raise TastemakerError(f"{path}: this library has no trained model yet")
    raise TastemakerError(f"{path}: no such model file (nor a library folder with a model)")


def to_images(images: ImageLike | Iterable[ImageLike]) -> list[Path | Image.Image]:
    """Paths and PIL images from any of the accepted forms (a tensor or array with a
    batch axis gives one image per row)."""
    if isinstance(images, (str, os.PathLike, Image.Image)) or _is_batch(images):
        images = [images]  # type: ignore[list-item]
    out: list[Path | Image.Image] = []
    for item in images:  # type: ignore[union-attr]
        if isinstance(item, (str, os.PathLike)):
            out.append(Path(item))
        elif isinstance(item, Image.Image):
            out.append(item)
        elif isinstance(item, (np.ndarray, torch.Tensor)):
            out += _arrays_to_images(item)
        else:
            raise TastemakerError(
                f"Cannot score a {type(item).__name__}: give paths, PIL "
                "images, numpy arrays or torch tensors"
            )
    return out


def _is_batch(value: object) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor))


def _arrays_to_images(array: np.ndarray | torch.Tensor) -> list[Image.Image]:
    """``[H, W, C]`` or ``[B, H, W, C]``; floats are taken as 0..1 (ComfyUI's IMAGE),
    integers as 0..255."""
    data = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array
    if data.ndim == 3:
        data = data[None]
    if data.ndim != 4 or data.shape[-1] not in (1, 3, 4):
        raise TastemakerError(
            f"Expected images as [H, W, C] or [B, H, W, C] with 1, 3 or 4 channels, "
            f"not an array of shape {tuple(data.shape)}"
        )
    if np.issubdtype(data.dtype, np.floating):
        data = np.clip(np.nan_to_num(data) * 255.0 + 0.5, 0, 255)
    data = data.astype(np.uint8)
    return [
        Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).convert("RGB")
        for frame in data
    ]

"""The Python API: load a taste model once per process and score whatever holds images:
paths, PIL images, numpy arrays, or torch tensors in ComfyUI's ``[B, H, W, C]`` float
0..1 layout; a kernel model gives each score's uncertainty too. The work is done by
the workflows (:mod:`tastemaker.workflows.models`, :mod:`tastemaker.workflows.score`),
which ComfyUI and saving images use as well."""

from __future__ import annotations

from tastemaker.workflows.models import resolve_model_path
from tastemaker.workflows.score import ImageLike, TasteScorer, load_model, to_images

__all__ = ["ImageLike", "TasteScorer", "load_model", "resolve_model_path", "to_images"]

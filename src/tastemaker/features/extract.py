"""Batched extraction: worker processes decode and preprocess images while the model
runs on the previous batch (a torch DataLoader); unreadable images are reported by
name and skipped, never fatal."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from tastemaker.errors import UnreadableImage
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import Extractor, Preprocess
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.decode import decode, pixel_limit, to_rgb

ImageInput = Path | Image.Image


@dataclass(frozen=True)
class EmbeddedBatch:
    indices: list[int]  # positions in the input of the rows of ``vectors``
    vectors: np.ndarray  # (len(indices), dim) float32
    failures: list[tuple[int, str]] = field(default_factory=list)  # (position, problem)


DRAFT_MARGIN = 4
"""A JPEG is decoded at a reduced scale (``Image.draft``: libjpeg scales while it decodes,
several times faster) only as far as its shorter side stays this many times the model's
input side: 896 px for a 224-px model, so a camera's 6000 × 4000 photo is decoded at
1500 × 1000 and images up to 1,791 px on the shorter side (generated ones) in full."""
DRAFT_TOLERANCE = 0.998
"""What that reduction may change: the cosine between an embedding of the reduced and of
the full decode is at least this on EfficientNet-Lite0, the most sensitive bundled
backbone, for grainy photos, which it changes most (0.9986 measured in ``tests/features``;
re-saving the same photos at JPEG quality 95 gives 0.9993). Embeddings cached before stay
under their keys: the change is of the order of a re-save, far below what tells tastes
apart."""


def default_batch_size(device: torch.device) -> int:
    return 64 if device.type == "cuda" else 16


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


class _Images(Dataset):
    def __init__(
        self, images: Sequence[ImageInput], preprocess: Preprocess, short_side: int | None
    ) -> None:
        self.images = images
        self.preprocess = preprocess
        self.short_side = short_side

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        return i, *prepare(self.images[i], self.preprocess, self.short_side)


def prepare(
    item: ImageInput, preprocess: Preprocess, short_side: int | None
) -> tuple[np.ndarray, None] | tuple[None, str]:
    """One image decoded (a JPEG reduced while its shorter side stays ``short_side``) and
    preprocessed for an extractor, or why it cannot be."""
    try:
        if isinstance(item, Image.Image):
            return preprocess(to_rgb(item)), None
        return preprocess(decode(item, short_side=short_side)), None
    except UnreadableImage as e:
        return None, str(e)
    except (OSError, ValueError) as e:  # the extractor's own preprocessing refused it
        return None, f"cannot be prepared for the extractor ({e})"


def draft_side(input_side: int | None, draft: bool = True) -> int | None:
    """The shorter side a JPEG may be reduced to for a model of ``input_side``."""
    return DRAFT_MARGIN * input_side if draft and input_side else None


PixelBatch = tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]


def _collate(items: list[tuple[int, np.ndarray | None, str | None]]) -> PixelBatch:
    good = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, problem or "unreadable") for i, x, problem in items if x is None]
    pixels = torch.from_numpy(np.stack([x for _, x in good])) if good else None
    return [i for i, _ in good], pixels, bad


def pixel_batches(
    extractor: Extractor,
    images: Sequence[ImageInput],
    batch_size: int | None = None,
    workers: int | None = None,
    draft: bool = True,
) -> DataLoader:
    """The decoding half of :func:`extract`: batches of (positions, preprocessed pixels or
    None, failures), decoded in ``workers`` processes (in this one for PIL images, which
    are already decoded). ``draft=False`` decodes every JPEG in full (see ``DRAFT_MARGIN``)."""
    pixel_limit()  # a bad TASTEMAKER_MAX_PIXELS is one error here, not one per worker
    in_memory = any(isinstance(im, Image.Image) for im in images)
    workers = 0 if in_memory else default_workers() if workers is None else workers
    return DataLoader(
        _Images(images, extractor.preprocess, draft_side(extractor.input_side, draft)),
        batch_size=batch_size or default_batch_size(extractor.device),
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=extractor.device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )


def extract(
    extractor: Extractor,
    images: Sequence[ImageInput],
    choice: LayerChoice,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
    draft: bool = True,
) -> Iterator[EmbeddedBatch]:
    """Embed ``images`` (paths or PIL images) batch by batch, in order."""
    if not images:
        return
    loader = pixel_batches(extractor, images, batch_size, workers, draft)
    job = f"Embedding with {extractor.spec.name}"
    progress(job, 0, len(images))  # while the workers start and decode the first batch
    done = 0
    for indices, pixels, failures in loader:
        vectors = extractor.embed(pixels, choice) if pixels is not None else np.zeros((0, 0), "f4")
        done += len(indices) + len(failures)
        progress(job, done, len(images))
        yield EmbeddedBatch(indices, vectors, failures)

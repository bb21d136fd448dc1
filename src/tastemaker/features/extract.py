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


def default_batch_size(device: torch.device) -> int:
    return 64 if device.type == "cuda" else 16


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


class _Images(Dataset):
    def __init__(self, images: Sequence[ImageInput], preprocess: Preprocess) -> None:
        self.images = images
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        item = self.images[i]
        try:
            image = to_rgb(item) if isinstance(item, Image.Image) else decode(item)
            return i, self.preprocess(image), None
        except UnreadableImage as e:
            return i, None, str(e)
        except (OSError, ValueError) as e:  # the extractor's own preprocessing refused it
            return i, None, f"cannot be prepared for the extractor ({e})"


def _collate(items: list[tuple[int, np.ndarray | None, str | None]]):
    good = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, problem or "unreadable") for i, x, problem in items if x is None]
    pixels = torch.from_numpy(np.stack([x for _, x in good])) if good else None
    return [i for i, _ in good], pixels, bad


def extract(
    extractor: Extractor,
    images: Sequence[ImageInput],
    choice: LayerChoice,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> Iterator[EmbeddedBatch]:
    """Embed ``images`` (paths or PIL images) batch by batch, in order."""
    if not images:
        return
    pixel_limit()  # a bad TASTEMAKER_MAX_PIXELS is one error here, not one per worker
    in_memory = any(isinstance(im, Image.Image) for im in images)
    workers = 0 if in_memory else default_workers() if workers is None else workers
    loader = DataLoader(
        _Images(images, extractor.preprocess),
        batch_size=batch_size or default_batch_size(extractor.device),
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=extractor.device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    job = f"Embedding with {extractor.spec.name}"
    progress(job, 0, len(images))  # while the workers start and decode the first batch
    done = 0
    for indices, pixels, failures in loader:
        vectors = extractor.embed(pixels, choice) if pixels is not None else np.zeros((0, 0), "f4")
        done += len(indices) + len(failures)
        progress(job, done, len(images))
        yield EmbeddedBatch(indices, vectors, failures)

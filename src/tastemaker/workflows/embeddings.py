"""Embeddings of a library's images, computed once per (content, extractor, layers) and
kept in the store; a second run extracts nothing new."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tastemaker.errors import TastemakerError
from tastemaker.features.extract import extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor
from tastemaker.features.registry import resolve
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.library import STORE_DIR, Library, libraries_holding


@dataclass(frozen=True)
class LibraryEmbeddings:
    image_ids: np.ndarray  # (n,) int64, present images that could be embedded
    hashes: list[str]
    x: np.ndarray  # (n, dim) float32
    extracted: int  # how many were computed now (the rest came from the cache)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


def library_embeddings(
    library: Library,
    extractor: str,
    choice: LayerChoice,
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> LibraryEmbeddings:
    """Embeddings of every present image, extracting only those not cached yet."""
    resolve(extractor)  # a bad name fails here, before anything is read
    store = library.store
    images = store.images("present")
    if not images:
        raise TastemakerError(f"{library.root}: no readable images in the library")
    cached = store.embeddings(extractor, choice.key, [im.hash for im in images])
    todo = [im for im in images if im.hash not in cached]
    failures: list[tuple[str, str]] = []
    if todo:
        progress(f"Loading {extractor}", 0, 0)
        model = load_extractor(extractor)
        paths = [library.file(im.path) for im in todo]
        for batch in extract(model, paths, choice, batch_size=batch_size, progress=progress):
            fresh = {todo[i].hash: v for i, v in zip(batch.indices, batch.vectors, strict=True)}
            store.add_embeddings(extractor, choice.key, fresh)  # kept even if stopped later
            cached.update(fresh)
            failures += [(todo[i].path, problem) for i, problem in batch.failures]
    kept = [im for im in images if im.hash in cached]
    return LibraryEmbeddings(
        image_ids=np.array([im.id for im in kept], np.int64),
        hashes=[im.hash for im in kept],
        x=np.stack([cached[im.hash] for im in kept]).astype(np.float32),
        extracted=len(todo) - len(failures),
        failures=failures,
    )


def cached_embeddings(
    files: Sequence[Path], hashes: Sequence[str], extractor: str, choice: LayerChoice
) -> dict[str, np.ndarray]:
    """The embeddings, by content hash, that the libraries holding ``files`` have already
    computed of any of ``hashes`` with this extractor and layer choice. A store that
    cannot be opened is passed over: its images are extracted instead."""
    found: dict[str, np.ndarray] = {}
    for root in libraries_holding(files):
        wanted = [h for h in hashes if h not in found]
        if not wanted:
            break
        try:
            with Library(root, root / STORE_DIR) as library:
                found.update(library.store.embeddings(extractor, choice.key, wanted))
        except TastemakerError:
            continue
    return found

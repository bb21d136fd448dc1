"""Embeddings of a library's images, computed once per (content, extractor, layers) and
kept in the store; a second run extracts nothing new."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

CHUNK = 4096  # embeddings read from a store at a time: 12 MB at 768 dimensions


@dataclass(frozen=True)
class LibraryEmbeddings:
    image_ids: np.ndarray  # (n,) int64, present images that could be embedded
    hashes: list[str]
    x: np.ndarray  # (n, dim) float32
    extracted: int  # how many were computed now (the rest came from the cache)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


@dataclass(frozen=True)
class Embedded:
    extracted: int  # images embedded now
    failures: list[tuple[str, str]]  # (path, problem) of those that could not be


def embed_missing(
    library: Library,
    extractor: str,
    choice: LayerChoice,
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> Embedded:
    """Extract the present images not cached yet, storing each batch as it comes (kept
    even if stopped later), so that every readable image is in the cache after it."""
    resolve(extractor)  # a bad name fails here, before anything is read
    store = library.store
    if not store.status_counts().get("present"):
        raise TastemakerError(f"{library.root}: no readable images in the library")
    todo = store.images_without_embedding(extractor, choice.key)
    failures: list[tuple[str, str]] = []
    if todo:
        progress(f"Loading {extractor}", 0, 0)
        model = load_extractor(extractor)
        paths = [library.file(im.path) for im in todo]
        for batch in extract(model, paths, choice, batch_size=batch_size, progress=progress):
            fresh = {todo[i].hash: v for i, v in zip(batch.indices, batch.vectors, strict=True)}
            store.add_embeddings(extractor, choice.key, fresh)
            failures += [(todo[i].path, problem) for i, problem in batch.failures]
    return Embedded(len(todo) - len(failures), failures)


def library_embeddings(
    library: Library,
    extractor: str,
    choice: LayerChoice,
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> LibraryEmbeddings:
    """Embeddings of every present image, all at once (as training needs them),
    extracting only those not cached yet."""
    embedded = embed_missing(library, extractor, choice, progress, batch_size)
    chunks = list(library.store.present_embeddings(extractor, choice.key, CHUNK))
    if not chunks:
        raise TastemakerError(f"{library.root}: none of its images could be embedded")
    return LibraryEmbeddings(
        image_ids=np.concatenate([c.image_ids for c in chunks]),
        hashes=[h for c in chunks for h in c.hashes],
        x=np.concatenate([c.vectors for c in chunks]),
        extracted=embedded.extracted,
        failures=embedded.failures,
    )


def cached_embedding_chunks(
    files: Sequence[Path],
    hashes: Sequence[str],
    extractor: str,
    choice: LayerChoice,
    size: int = CHUNK,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """The embeddings that the libraries holding ``files`` have already computed of any of
    ``hashes`` with this extractor and layer choice, as ``(hashes, (n, d) array)`` at most
    ``size`` at a time, each hash once. A store that cannot be opened is passed over: its
    images are extracted instead."""
    found: set[str] = set()
    for root in libraries_holding(files):
        wanted = [h for h in hashes if h not in found]
        if not wanted:
            break
        try:
            with Library(root, root / STORE_DIR) as library:
                for digests, vectors in library.store.embedding_chunks(
                    extractor, choice.key, wanted, size
                ):
                    found.update(digests)
                    yield digests, vectors
        except TastemakerError:
            continue

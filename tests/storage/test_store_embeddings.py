"""The embedding cache read in chunks: each chunk bounded, together exactly the vectors
asked for, so a caller never needs to hold a whole library's embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tastemaker.storage.store import FileRecord, NewImage, Store

EXTRACTOR, LAYERS = "tiny", "0"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """12 images; 9 embedded (vector i is filled with the image id), the last one of them
    and one of the others missing from the folder."""
    store = Store(tmp_path / "library.db")
    ids = [store.add_image(NewImage(f"h{n:02d}", f"{n}.png", 1, 8, 8, None)) for n in range(12)]
    store.set_files(
        [FileRecord(f"{n}.png", 1, 0, i) for n, i in enumerate(ids) if n not in (8, 10)], []
    )
    store.add_embeddings(
        EXTRACTOR, LAYERS, {f"h{n:02d}": np.full(4, ids[n], np.float32) for n in range(9)}
    )
    store.add_embeddings("other", LAYERS, {f"h{n:02d}": np.zeros(4, np.float32) for n in range(12)})
    yield store
    store.close()


@pytest.mark.parametrize("size", [1, 3, 7, 100])
def test_present_embeddings_come_at_most_size_at_a_time_and_all_once(store, size):
    chunks = list(store.present_embeddings(EXTRACTOR, LAYERS, size))
    assert all(1 <= len(c.image_ids) <= size for c in chunks)
    ids = np.concatenate([c.image_ids for c in chunks])
    present_embedded = [im.id for im in store.images("present") if im.hash < "h09"]
    assert ids.tolist() == present_embedded and len(ids) == 8  # by id; the missing one left out
    for c in chunks:
        assert c.vectors.shape == (len(c.image_ids), 4) and c.vectors.dtype == np.float32
        assert (c.vectors == c.image_ids[:, None]).all()  # each row its own image's
        assert c.hashes == [store.image(i).hash for i in c.image_ids.tolist()]


def test_the_present_images_without_an_embedding_are_the_ones_to_extract(store):
    todo = store.images_without_embedding(EXTRACTOR, LAYERS)
    assert [im.hash for im in todo] == ["h09", "h11"]  # h10 is missing from the folder
    assert store.images_without_embedding("other", LAYERS) == []


@pytest.mark.parametrize("size", [1, 2, 500, 5000])
def test_embedding_chunks_by_hash_are_bounded_and_skip_the_uncached(store, size):
    wanted = [f"h{n:02d}" for n in reversed(range(12))] + ["nope"]
    chunks = list(store.embedding_chunks(EXTRACTOR, LAYERS, wanted, size))
    assert all(1 <= len(hashes) <= size for hashes, _ in chunks)
    found = {h: v for hashes, vectors in chunks for h, v in zip(hashes, vectors, strict=True)}
    assert sorted(found) == [f"h{n:02d}" for n in range(9)]
    assert all((v == store.image_ids_by_hash([h])[h]).all() for h, v in found.items())
    assert store.embeddings(EXTRACTOR, LAYERS, wanted).keys() == found.keys()


def test_a_write_between_chunks_is_allowed(store):
    """Each chunk is its own read: a caller may store what it extracts meanwhile."""
    for chunk in store.present_embeddings(EXTRACTOR, LAYERS, 2):
        store.add_embeddings("seen", LAYERS, dict.fromkeys(chunk.hashes, np.ones(2, np.float32)))
    assert len(store.embeddings("seen", LAYERS, [f"h{n:02d}" for n in range(12)])) == 8

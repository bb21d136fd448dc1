"""The gallery kept between pages: every page as reading the whole library for it gives,
and read afresh once the store changes, whoever changed it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from posixpath import dirname

import numpy as np
import pytest

from tastemaker.rating.ranks import ranks_from_top, zscore
from tastemaker.storage.store import FileRecord, NewImage, Store
from tastemaker.workflows.reports import GalleryImage, GalleryPages

FOLDERS = ["", "a", "a/x", "a/x/deep", "b", "ab"]  # "ab" is no sub-folder of "a"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """60 images over FOLDERS, three of them missing from the folder; Elo rounded to
    give ties."""
    store = Store(tmp_path / "library.db")
    rng = np.random.default_rng(3)
    paths = [f"{FOLDERS[i % len(FOLDERS)]}/img{i:02d}.png".lstrip("/") for i in range(60)]
    ids = [
        store.add_image(NewImage(hashlib.sha256(p.encode()).hexdigest(), p, 1, 8, 8, None))
        for p in paths
    ]
    store.set_files(
        [FileRecord(p, 1, 0, i) for p, i in zip(paths, ids, strict=True) if i % 20 != 7], []
    )
    elo = np.round(rng.normal(0, 1, 60), 1).tolist()
    store.set_ratings(dict(zip(ids, elo, strict=True)), {i: i % 4 for i in ids})
    yield store
    store.close()


def model_of(store: Store) -> tuple[dict[int, float], dict[int, float]]:
    """A model that scored two images in three (with ties), and its uncertainties."""
    ids = [im.id for im in store.images()]
    scores = {i: float(i % 9) for i in ids if i % 3}
    return scores, {i: 0.1 * (i % 5) for i in scores}


def read_whole(
    store: Store,
    model_scores: Mapping[int, float],
    uncertainties: Mapping[int, float],
    sort: str,
    descending: bool,
    folder: str,
) -> tuple[list[GalleryImage], dict[str, int]]:
    """Every image of the gallery in order, and the folder counts, worked out from the
    whole store as the gallery did before it kept anything between pages."""
    records = store.ratings()
    hashes = {im.id: im.hash for im in store.images("present")}
    folders = [dirname(r.path) for r in records]
    elo = np.array([r.elo for r in records])
    model = np.array([model_scores.get(r.image_id, np.nan) for r in records])
    scored = ~np.isnan(model)
    rank = ranks_from_top(elo)
    model_rank = np.zeros(len(records), np.int64)
    model_rank[scored] = ranks_from_top(model[scored])
    key = {"database": elo, "model": model}.get(sort, np.abs(zscore(model) - zscore(elo)))
    key = np.where(np.isnan(key), -np.inf if descending else np.inf, key)
    order = np.argsort(-key if descending else key, kind="stable").tolist()
    order = [i for i in order if not folder or (folders[i] + "/").startswith(folder + "/")]
    counts: dict[str, int] = {}
    for f in folders:
        parts = f.split("/") if f else []
        for prefix in ["", *("/".join(parts[: k + 1]) for k in range(len(parts)))]:
            counts[prefix] = counts.get(prefix, 0) + 1
    images = [
        GalleryImage(
            id=records[i].image_id,
            hash=hashes[records[i].image_id],
            path=records[i].path,
            folder=folders[i],
            score=records[i].elo,
            appearances=records[i].comparisons,
            rank=int(rank[i]),
            model_score=float(model[i]) if scored[i] else None,
            model_rank=int(model_rank[i]) if scored[i] else None,
            model_uncertainty=uncertainties.get(records[i].image_id),
        )
        for i in order
    ]
    return images, counts


@pytest.mark.parametrize("sort", ["database", "model", "disagreement"])
@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("folder", ["", "a", "a/x", "ab", "none"])
def test_every_page_is_what_reading_the_whole_store_gives(store, sort, descending, folder):
    scores, uncertainties = model_of(store)
    pages = GalleryPages(store, scores, uncertainties)
    expected, counts = read_whole(store, scores, uncertainties, sort, descending, folder)
    got = []
    for offset in range(0, 60, 7):  # pages that split runs of ties
        page = pages.page(sort, descending, folder, offset, 7)
        assert page.total == len(expected) and dict(page.folders) == counts
        assert [name for name, _ in page.folders] == sorted(counts)
        got += page.images
    assert got == expected
    assert len(expected) == {"": 57, "a": 29, "a/x": 19, "ab": 10, "none": 0}[folder]


def test_pages_share_one_index_until_the_store_changes(store, tmp_path):
    pages = GalleryPages(store)
    index = pages.index()
    pages.page(offset=20)
    pages.page(folder="a", descending=False)
    assert pages.index() is index  # nothing written: nothing read again

    best = pages.page(limit=1).images[0]
    store.set_ratings({best.id: best.score - 10}, {best.id: 9})  # as a choice does
    assert pages.index() is not index
    moved = next(im for im in pages.page(limit=60).images if im.id == best.id)
    assert (moved.score, moved.appearances) == (pytest.approx(best.score - 10), 9)
    assert pages.page(limit=1).images[0].id != best.id

    index = pages.index()
    other = Store(tmp_path / "library.db")  # another process's commit: a rescan
    try:
        other.set_files([], list(other.files()))  # every file gone: every image missing
    finally:
        other.close()
    assert pages.index() is not index
    assert pages.page().total == 0 and pages.page().folders == ()

"""The gallery stays fast at 100,000 images: one page's time, with the store unchanged
since the last page and just after a choice.

A library of ``--images`` rows (100,000) inserted straight through the store, no image
files (the gallery's JSON needs none: thumbnails are URLs), in 100 folders of 10 sub-
folders, with Elo ratings and appearances set as replayed choices would leave them, and a
model in the loop's score and uncertainty for every image. The gallery the server keeps
(``reports.GalleryPages``, behind ``/api/gallery``; the HTTP layer adds the same few
milliseconds to every case) is asked for 100-image pages: each sort (database, model,
disagreement) at the first, the middle and the last page, and the first page of one
folder; ``--rounds`` rounds. Three cases:

- ``unchanged``: nothing was written since the last page (someone paging or scrolling);
- ``after a choice``: one image's rating was written just before, through the same
  store (someone rating in another tab);
- ``afresh`` (the baseline): the same page worked out from the whole store
  (``reports.gallery``, no index kept), as every page was before the server kept one.

Headline: each case's ``page_ms`` (p50, p90, max), ``ratio`` = after a choice ÷
unchanged (p50) and ``speedup`` = afresh ÷ unchanged (p50), all from this run.

    python benchmarks/gallery.py                          # 100,000 images
    python benchmarks/gallery.py --quick --json out.json  # a CI check: 2,000 images

JSON: ``config``; ``results`` with ``images``, ``insert_s``, ``pages`` (requests per
case), ``unchanged_ms``, ``after_choice_ms`` and ``afresh_ms`` (percentiles), ``ratio``,
``speedup``; ``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import _common
import numpy as np

if TYPE_CHECKING:
    from tastemaker.storage.store import Store

SORTS = ("database", "model", "disagreement")
LIMIT = 100


def image_hash(i: int) -> str:
    """The content hash of synthetic image ``i``."""
    return hashlib.sha256(str(i).encode()).hexdigest()


def add_images(store: Store, start: int, stop: int) -> list[int]:
    """Present images ``start`` to ``stop - 1`` as rows only (no files), spread over
    folders ``fNN/sM``, in one transaction; their ids."""
    from tastemaker.storage.store import NewImage

    with store.atomic():
        return [
            store.add_image(
                NewImage(
                    image_hash(i),
                    f"f{i % 100:02d}/s{i // 100 % 10}/img{i:07d}.jpg",
                    1000,
                    64,
                    64,
                    None,
                )
            )
            for i in range(start, stop)
        ]


def insert_images(root: Path, n: int, seed: int = 0) -> dict[int, float]:
    """A library at ``root`` with ``n`` present images rated with random Elo and
    appearances; their ids -> a random model score."""
    from tastemaker.storage.library import open_library

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    with open_library(root) as library:
        ids = add_images(library.store, 0, n)
        elo = np.round(rng.normal(0, 2, n), 1)  # rounded: many ties, as real ratings have
        counts = rng.poisson(3, n)
        library.store.set_ratings(
            dict(zip(ids, elo.tolist(), strict=True)), dict(zip(ids, counts.tolist(), strict=True))
        )
    return dict(zip(ids, rng.normal(0, 1, n).tolist(), strict=True))


def requests(n: int) -> list[dict[str, object]]:
    """The pages asked for in one round."""
    last = max(0, n - LIMIT)
    pages: list[dict[str, object]] = [
        {"sort": sort, "offset": offset, "limit": LIMIT}
        for sort in SORTS
        for offset in (0, n // 2, last)
    ]
    return [*pages, {"sort": "database", "folder": "f07", "limit": LIMIT}]


def run(root: Path, n: int, rounds: int) -> dict[str, object]:
    from tastemaker.storage.library import open_library
    from tastemaker.workflows.reports import GalleryPages, gallery

    started = time.perf_counter()
    scores = insert_images(root, n)
    insert_s = time.perf_counter() - started
    uncertainties = {i: 0.5 for i in scores}
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {"unchanged": [], "after_choice": [], "afresh": []}
    with open_library(root) as library:
        pages = GalleryPages(library.store, scores, uncertainties)
        ids = list(scores)
        pages.page()  # warm-up
        for _ in range(rounds):
            for params in requests(n):
                chosen = ids[int(rng.integers(len(ids)))]  # a choice moves one rating
                library.store.set_ratings({chosen: float(rng.normal(0, 2))}, {chosen: 4})
                sort, folder = str(params["sort"]), str(params.get("folder", ""))
                offset = int(params.get("offset", 0))  # type: ignore[call-overload]
                for case in ("after_choice", "unchanged"):
                    t = time.perf_counter()
                    page = pages.page(sort, True, folder, offset, LIMIT)
                    times[case].append((time.perf_counter() - t) * 1000)
                    if not page.images:
                        raise RuntimeError(f"{params}: an empty page")
                t = time.perf_counter()
                gallery(library.store, scores, sort, True, folder, offset, LIMIT, uncertainties)
                times["afresh"].append((time.perf_counter() - t) * 1000)
    after, unchanged, afresh = (
        _common.percentiles(times[case]) for case in ("after_choice", "unchanged", "afresh")
    )
    return {
        "images": n,
        "insert_s": insert_s,
        "pages": len(times["unchanged"]),
        "unchanged_ms": unchanged,
        "after_choice_ms": after,
        "ratio": _common.ratio(after["p50"], unchanged["p50"]),
        "afresh_ms": afresh,
        "speedup": _common.ratio(afresh["p50"], unchanged["p50"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Gallery page time at a large library.")
    ap.add_argument("--images", type=int, help="library size (default 100000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of pages (default 5)")
    ap.add_argument("--quick", action="store_true", help="2,000 images, 2 rounds: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    n = args.images or (2000 if args.quick else 100_000)
    rounds = 2 if args.quick else args.rounds
    config = {"images": n, "rounds": rounds, "limit": LIMIT, "quick": args.quick}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-") as tmp:
        result = run(Path(tmp) / "lib", n, rounds)
    seconds = time.perf_counter() - started
    u, a, f = result["unchanged_ms"], result["after_choice_ms"], result["afresh_ms"]
    _common.print_table(
        ["case", "pages", "p50 ms", "p90 ms", "max ms"],
        [
            ["unchanged", result["pages"], u["p50"], u["p90"], u["max"]],  # type: ignore[index]
            ["after a choice", result["pages"], a["p50"], a["p90"], a["max"]],  # type: ignore[index]
            ["afresh (before)", result["pages"], f["p50"], f["p90"], f["max"]],  # type: ignore[index]
        ],
        title=f"/api/gallery, {n:,} images, {LIMIT} a page, every sort; {n:,} rows inserted "
        f"in {result['insert_s']:.1f} s",
        digits=1,
    )
    print(f"\nafter a choice / unchanged (p50): x{result['ratio']:.2f}")
    print(f"afresh / unchanged (p50): x{result['speedup']:.1f} faster")
    return _common.finish(args.json, seconds, config=config, results=result)


if __name__ == "__main__":
    raise SystemExit(main())

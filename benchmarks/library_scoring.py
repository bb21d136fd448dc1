"""Scoring a library from its embedding cache holds one chunk, not the library: memory
stays flat from 10,000 to 1,000,000 cached embeddings.

``tastemaker.workflows.score.library_model_scores`` (``rate --model``, ``prior``, the
ComfyUI Save node) reads a library's cached embeddings from its store a chunk at a time
(4,096 rows) and scores each chunk. The library here: ``n`` images inserted as rows
through the store (no image files: every image is cached, so nothing is extracted), each
with a random 768-d embedding (CLIP ViT-L/14's size), grown from the smallest size to the
largest; the taste model is a small MLP trained on random 768-d vectors. Each size is
scored in a fresh process: after imports, loading the model and scoring one chunk of
zeros (torch's own first-use set-up, the same at any size), the process's peak
resident memory is reset (Linux: ``/proc/self/clear_refs``; elsewhere the peak since start
counts) and ``tracemalloc`` started; after scoring, the growth of the peak resident
memory (``VmHWM``, else ``ru_maxrss``), tracemalloc's peak, and what the answer itself
still holds (its scores: one dict entry per image) are read. ``working`` =
tracemalloc's peak - the answer: what scoring held beyond what it hands back.

For comparison, in the same run and up to ``--all-at-once-max`` rows (100,000), the same
sizes scored with every embedding held at once (``library_embeddings``, what training
still does, and what library scoring did).

Headline: ``working_ratio`` = chunked working memory at the largest size ÷ at the
smallest (flat: near 1), and the peak growth of both ways at each size.

    python benchmarks/library_scoring.py                          # 10k, 100k, 1M rows
    python benchmarks/library_scoring.py --quick --json out.json  # a CI check: 1k, 5k

The 1,000,000-row store takes 3.2 GB of disk in a temporary folder, and a few minutes to
build.

JSON: ``config``; ``results`` keyed by ``chunked:N`` / ``all-at-once:N``, each with
``rows``, ``how``, ``scored``, ``seconds``, ``rows_per_s``, ``peak_method``,
``peak_growth_mb``, ``traced_peak_mb``, ``answer_mb``, ``working_mb``,
``held_embeddings_mb`` (every embedding at once, for scale); ``working_ratio``;
``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
from gallery import add_images, image_hash
from scoring_memory import peak_mb, reset_peak, rss_mb

DIM = 768
EXTRACTOR = "openai/clip-vit-large-patch14"  # a name only: nothing is extracted


def grow(root: Path, start: int, stop: int, layers: str, seed: int) -> None:
    """Add images ``start`` to ``stop - 1`` to the library at ``root``, each with a random
    cached embedding, 10,000 a transaction."""
    from tastemaker.storage.library import open_library

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    with open_library(root) as library:
        store = library.store
        for first in range(start, stop, 10_000):
            last = min(stop, first + 10_000)
            add_images(store, first, last)
            vectors = rng.normal(size=(last - first, DIM)).astype(np.float32)
            hashes = [image_hash(i) for i in range(first, last)]
            store.add_embeddings(EXTRACTOR, layers, dict(zip(hashes, vectors, strict=True)))


def high_water_mb() -> float | None:
    """The peak resident memory since the last reset (Linux's ``VmHWM``; ``ru_maxrss`` can
    keep an older peak recorded when a thread ended), in MB; None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def train(folder: Path) -> Path:
    """A small MLP taste model for 768-d embeddings from EXTRACTOR."""
    x = np.random.default_rng(0).normal(size=(200, DIM)).astype(np.float32)
    return _common.fit_taste(x, EXTRACTOR, folder / "taste.safetensors")


def child(model_path: str, root: str, how: str) -> None:
    """Score the library at ``root`` in this process; print one JSON line of what it
    measured."""
    import gc
    import tracemalloc

    from tastemaker.model import read_model
    from tastemaker.storage.library import open_library
    from tastemaker.workflows.embeddings import library_embeddings
    from tastemaker.workflows.score import layer_choice, library_model_scores

    model = read_model(model_path, "cpu")
    model.score_embeddings(np.zeros((4096, DIM), np.float32))  # torch's own set-up, once
    with open_library(Path(root)) as library:
        rows = library.store.status_counts()["present"]
        gc.collect()
        reset = reset_peak()
        before = rss_mb() if reset else peak_mb()
        tracemalloc.start()
        started = time.perf_counter()
        if how == "chunked":
            answer: object = library_model_scores(library, model).scores
            scored = len(answer)  # type: ignore[arg-type]
        else:
            embedded = library_embeddings(library, model.meta.extractor, layer_choice(model))
            answer = model.score_embeddings(embedded.x)
            scored = len(answer)  # type: ignore[arg-type]
            del embedded
        seconds = time.perf_counter() - started
        gc.collect()
        held, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after = (high_water_mb() if reset else None) or peak_mb()
    out = {
        "rows": rows,
        "how": how,
        "scored": scored,
        "seconds": seconds,
        "rows_per_s": scored / seconds,
        "peak_method": "reset before scoring" if reset else "since the process started",
        "peak_growth_mb": after - before,
        "traced_peak_mb": traced_peak / 1e6,
        "answer_mb": held / 1e6,
        "working_mb": (traced_peak - held) / 1e6,
        "held_embeddings_mb": rows * DIM * 4 / 1e6,
    }
    print(json.dumps(out))


def measure(model: Path, root: Path, how: str) -> dict:
    command = [sys.executable, __file__, "--child", str(model), str(root), how]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Peak memory of scoring a library from its cache as the library grows."
    )
    ap.add_argument("--rows", type=int, nargs="+", help="sizes (default 10000 100000 1000000)")
    ap.add_argument(
        "--all-at-once-max",
        type=int,
        default=100_000,
        help="score with every embedding held too, up to this size (default 100000)",
    )
    ap.add_argument("--quick", action="store_true", help="1,000 and 5,000 rows: for CI")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "ROOT", "HOW"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    sizes = sorted(set(args.rows or ((1000, 5000) if args.quick else (10_000, 100_000, 10**6))))
    config = {
        "rows": sizes,
        "dim": DIM,
        "all_at_once_max": args.all_at_once_max,
        "quick": args.quick,
    }
    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-") as tmp:
        from tastemaker.model import read_model
        from tastemaker.workflows.score import layer_choice

        model = train(Path(tmp))
        layers = layer_choice(read_model(model, "cpu")).key
        root, have = Path(tmp) / "lib", 0
        for n in sizes:
            t = time.perf_counter()
            grow(root, have, n, layers, seed=n)
            have = n
            print(f"{n:,} rows ready in {time.perf_counter() - t:.0f} s", flush=True)
            ways = ["chunked"] + (["all-at-once"] if n <= args.all_at_once_max else [])
            for how in ways:
                r = results[f"{how}:{n}"] = measure(model, root, how)
                print(
                    f"  {how}: {r['rows_per_s']:,.0f} rows/s, peak +{r['peak_growth_mb']:.0f} MB",
                    flush=True,
                )
    chunked = [r for r in results.values() if r["how"] == "chunked"]
    working_ratio = _common.ratio(
        max(chunked[-1]["working_mb"], 1.0), max(chunked[0]["working_mb"], 1.0)
    )
    seconds = time.perf_counter() - started
    _common.print_table(
        [
            "rows",
            "how",
            "rows/s",
            "peak growth MB",
            "traced peak MB",
            "answer MB",
            "working MB",
            "all embeddings MB",
        ],
        [
            [
                r["rows"],
                r["how"],
                r["rows_per_s"],
                r["peak_growth_mb"],
                r["traced_peak_mb"],
                r["answer_mb"],
                r["working_mb"],
                r["held_embeddings_mb"],
            ]
            for r in results.values()
        ],
        title=(
            f"library_model_scores from the cache, {DIM}-d, a fresh process a size; peak RSS "
            "growth (VmHWM), tracemalloc; working = traced peak - the answer"
        ),
        digits=1,
    )
    print(
        f"\nchunked working memory from {sizes[0]:,} to {sizes[-1]:,} rows: "
        f"x{working_ratio:.2f} (each at least 1 MB)"
    )
    return _common.finish(
        args.json, seconds, config=config, results=results, working_ratio=working_ratio
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""Memory stays flat while scoring grows from 1,000 to 100,000 images (a stream of batches).

``tastemaker.engines.batch.score_batches`` takes images in and gives scores out batch by batch:
DataLoader workers decode and preprocess, the extractor embeds a batch, the taste model
scores it, and nothing of a batch is kept once it has been handed on. We score 1,000,
10,000 and 100,000 images, each size in a fresh process. After imports, loading and a
warm-up batch, the process's peak resident memory is reset to its present one (Linux:
``/proc/self/clear_refs``; elsewhere the peak since start counts) and read again after
scoring (``resource.getrusage(RUSAGE_SELF).ru_maxrss``): the growth is the most that
scoring held at once. The resident memory is also sampled after every batch. The
DataLoader workers are processes of their own: their largest peak is reported apart
(``RUSAGE_CHILDREN``).

The model: a tiny CLIP built here with random weights but CLIP ViT-L/14's output size
(768), and a small taste model trained on 768-d vectors for it; so the embeddings are as
large as the default extractor's, and holding them all would take ``n x 768 x 4`` bytes
(307 MB at 100,000), printed beside the measured growth for scale. The images: a pool
of ``--pool`` distinct small JPEGs (72 to 96 px a side), cycled through by a lazy
sequence, so the input list itself takes no memory (100,000 real decodes, without
100,000 files).

Headline: ``growth_ratio`` = growth at the largest size ÷ growth at the smallest, and
``extra_mb`` = their difference, both from this run (flat: ratio near 1, a few MB).

    python benchmarks/scoring_memory.py                          # 1,000, 10,000, 100,000
    python benchmarks/scoring_memory.py --quick --json out.json  # a CI check: 200 and 2,000

JSON: ``config``; ``results`` keyed by size, each with ``images``, ``scored``,
``seconds``, ``images_per_s``, ``peak_method``, ``peak_before_mb``, ``peak_after_mb``,
``growth_mb``, ``rss_sampled_max_mb``, ``workers_peak_mb``, ``held_embeddings_mb`` (what
holding every embedding would take), ``score_sum``;
``growth_ratio``, ``extra_mb`` (largest vs smallest); ``machine``; ``seconds``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing reaches the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import _common
import numpy as np

DIM = 768
WARMUP = 64


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory so far, in MB (Linux gives KiB, macOS bytes)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def reset_peak() -> bool:
    """Reset this process's peak resident memory to its current one (Linux 4.0+:
    ``/proc/self/clear_refs``), so the next peak is the scoring's own; False where that
    cannot be done (then the peak since the process started counts)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb() -> float | None:
    """Resident memory now, in MB (None without /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


class Cycled(Sequence):
    """``n`` images: the pool's paths over and over, made on demand (no list of ``n``)."""

    def __init__(self, pool: Sequence[str], n: int) -> None:
        self.pool = list(pool)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return Path(self.pool[i % len(self.pool)])


def child(
    model_path: str, pool_dir: str, n: int, batch_size: int | None, threads: int | None
) -> None:
    """Score ``n`` images in this process; print one JSON line of what it measured."""
    import gc

    import torch

    from tastemaker.engines.batch import score_batches
    from tastemaker.model import read_model

    if threads:
        torch.set_num_threads(threads)
    pool = sorted(str(p) for p in Path(pool_dir).glob("*.jpg"))
    model = read_model(model_path, "cpu")
    for _ in score_batches(model, Cycled(pool, WARMUP), batch_size=batch_size):
        pass  # loads the extractor, starts workers once
    gc.collect()
    reset = reset_peak()
    before = rss_mb() if reset else peak_mb()
    highest_sampled = 0.0
    started = time.perf_counter()
    scored, total = 0, 0.0
    for batch in score_batches(model, Cycled(pool, n), batch_size=batch_size):
        if batch.failures:
            raise RuntimeError(f"unreadable: {batch.failures[:3]}")
        scored += len(batch.indices)
        total += float(batch.scores.sum())  # used, then dropped: a stream
        highest_sampled = max(highest_sampled, rss_mb() or 0.0)
    seconds = time.perf_counter() - started
    after = peak_mb()
    out = {
        "images": n,
        "scored": scored,
        "seconds": seconds,
        "images_per_s": scored / seconds,
        "peak_method": "reset before scoring" if reset else "since the process started",
        "peak_before_mb": before,
        "peak_after_mb": after,
        "growth_mb": after - before,
        "rss_sampled_max_mb": highest_sampled or None,
        "workers_peak_mb": peak_mb(resource.RUSAGE_CHILDREN),
        "held_embeddings_mb": n * DIM * 4 / 1e6,
        "score_sum": total,
    }
    print(json.dumps(out))


def prepare(folder: Path, pool: int) -> tuple[Path, Path]:
    """The tiny 768-d CLIP, a taste model for it, and ``pool`` distinct small JPEGs."""
    from extraction import make_photos, save_clip

    clip = save_clip(folder / "tiny-clip-768", "tiny", projection_dim=DIM)
    x = np.random.default_rng(0).normal(size=(200, DIM)).astype(np.float32)
    model = _common.fit_taste(x, str(clip), folder / "taste.safetensors")
    pool_dir = folder / "pool"
    make_photos(pool_dir, pool, sides=(72, 96), seed=1)
    return model, pool_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Peak memory of streamed scoring as the number of images grows."
    )
    ap.add_argument("--images", type=int, nargs="+", help="sizes (default 1000 10000 100000)")
    ap.add_argument("--pool", type=int, default=256, help="distinct images cycled through")
    ap.add_argument("--batch-size", type=int, help="images a batch (default: tastemaker's)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    ap.add_argument("--quick", action="store_true", help="200 and 2,000 images: for CI")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "POOL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.batch_size, args.threads)
        return 0

    sizes = sorted(set(args.images or ((200, 2000) if args.quick else (1000, 10_000, 100_000))))
    config = {"images": sizes, "pool": args.pool, "dim": DIM, "batch_size": args.batch_size}
    config["threads"] = args.threads
    config["quick"] = args.quick
    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-") as tmp:
        model, pool_dir = prepare(Path(tmp), args.pool)
        for n in sizes:
            command = [sys.executable, __file__, "--child", str(model), str(pool_dir), str(n)]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stdout + done.stderr, file=sys.stderr)
                return 1
            results[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[str(n)]
            print(
                f"{n:,} images: {r['images_per_s']:.0f}/s, peak {r['peak_before_mb']:.0f} -> "
                f"{r['peak_after_mb']:.0f} MB",
                flush=True,
            )
    first, last = results[str(sizes[0])], results[str(sizes[-1])]
    growth_ratio = _common.ratio(max(last["growth_mb"], 1.0), max(first["growth_mb"], 1.0))
    extra_mb = last["growth_mb"] - first["growth_mb"]
    seconds = time.perf_counter() - started

    _common.print_table(
        [
            "images",
            "img/s",
            "peak before MB",
            "peak after MB",
            "growth MB",
            "workers peak MB",
            "all embeddings MB",
        ],
        [
            [
                r["images"],
                r["images_per_s"],
                r["peak_before_mb"],
                r["peak_after_mb"],
                r["growth_mb"],
                r["workers_peak_mb"],
                r["held_embeddings_mb"],
            ]
            for r in results.values()
        ],
        title=(
            f"score_batches, tiny {DIM}-d CLIP + taste model, a fresh process a size; "
            f"peak RSS (ru_maxrss) of the scoring process; {os.cpu_count()} CPU(s)"
        ),
        digits=1,
    )
    print(
        f"\nfrom {sizes[0]:,} to {sizes[-1]:,} images: growth x{growth_ratio:.2f} (each at "
        f"least 1 MB), {extra_mb:+.1f} MB, against {last['held_embeddings_mb']:.0f} MB to "
        "hold every embedding"
    )
    return _common.finish(
        args.json,
        seconds,
        config=config,
        results=results,
        growth_ratio=growth_ratio,
        extra_mb=extra_mb,
    )


if __name__ == "__main__":
    raise SystemExit(main())

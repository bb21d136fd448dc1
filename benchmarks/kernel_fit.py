"""Time and peak memory of the default fit of ``tastemaker train``: the kernel learner
chosen and measured on the split, then refitted on every rated image.

Synthetic 1,280-d embeddings with a smooth taste plus noise, three random pairwise
choices per image, a quarter of the images held out; the fit is
``tastemaker.training.learners.learn`` with its defaults (``fit_kernel``: exact up to
2,000 images, Nyström with 2,000 landmarks above, settings chosen by leave-one-out on at
most 4,000 of the split's training images, kept for the refit). Embeddings are cached
arrays by then, so this is what ``train`` costs after its first run.
Peak memory is the process's peak resident size after each fit (it only grows, so sizes
run smallest first). Targets: 10,000 images under 10 s, 100,000 under 60 s (2-core CPU).

    python benchmarks/kernel_fit.py                         # 2,000, 10,000 and 100,000
    python benchmarks/kernel_fit.py --quick --json out.json # a CI check: 300 and 2,500, 64-d

Timings need a quiet machine: with 2 cores, another busy process slows the BLAS threads
several-fold. JSON: ``config``; ``results``, one per size, each with ``images``,
``seconds``, ``peak_mb``, ``method`` (exact or nystrom), the chosen ``kind``, ``width``
and ``penalty``, ``heldout_agreement`` (a check that it learnt), ``target_s`` and
``target_met`` (null where no target); ``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import _common
import numpy as np

from tastemaker.training.data import TrainingData
from tastemaker.training.learners import learn
from tastemaker.training.split import heldout_mask

TARGETS_S = {10_000: 10.0, 100_000: 60.0}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_size(n: int, dim: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    u, v = rng.normal(size=(2, dim)) / np.sqrt(dim)
    taste = x @ u + 0.5 * np.tanh(x @ v)
    a, b = rng.integers(0, n, (2, 3 * n))
    a_wins = rng.random(3 * n) < 1 / (1 + np.exp(-2 * (taste[a] - taste[b])))
    split = TrainingData(
        x,
        taste + 0.3 * rng.normal(size=n),  # ratings: the taste, as a rating's noise blurs it
        np.where(a_wins, a, b),
        np.where(a_wins, b, a),
        heldout=heldout_mask([f"{seed}:{i}" for i in range(n)]),
    )
    full = TrainingData(split.x, split.scores, split.winners, split.losers)
    meta = {"extractor": "synthetic", "layers": (0,), "layer_mode": "join", "ratings": "bt"}
    start = time.perf_counter()
    model = learn(split, full, meta).model
    seconds = time.perf_counter() - start
    kernel = model.meta.params["kernel"]
    return {
        "images": n,
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "method": model.meta.params["method"],
        "kind": kernel["kind"],
        "width": kernel["width"],
        "penalty": kernel["penalty"],
        "heldout_agreement": model.meta.metrics["heldout_choice_agreement"],
        "target_s": TARGETS_S.get(n),
        "target_met": None if n not in TARGETS_S else seconds < TARGETS_S[n],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000, 100_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="300 and 2,500 images, 64-d")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.dim = [300, 2_500], 64
    started = time.perf_counter()
    results = []
    for n in sorted(args.sizes):
        results.append(run_size(n, args.dim, args.seed))
        print(f"{n:,} images: {results[-1]['seconds']:.1f} s", flush=True)
    _common.print_table(
        ["images", "seconds", "peak MB", "method", "kernel", "λ", "held-out", "target s", "met"],
        [
            [
                r["images"],
                r["seconds"],
                r["peak_mb"],
                r["method"],
                r["kind"],
                f"{r['penalty']:.3g}",
                r["heldout_agreement"],
                r["target_s"],
                r["target_met"],
            ]
            for r in results
        ],
        title=f"train's default fit (split + refit), {args.dim}-d synthetic embeddings",
    )
    config = {"sizes": sorted(args.sizes), "dim": args.dim, "seed": args.seed}
    return _common.finish(args.json, time.perf_counter() - started, config=config, results=results)


if __name__ == "__main__":
    sys.exit(main())

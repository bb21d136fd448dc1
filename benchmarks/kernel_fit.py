"""Time and peak memory of one kernel-learner fit (settings chosen by leave-one-out).

Synthetic 1,280-d embeddings with a smooth taste plus noise; the fit is
``tastemaker.training.kernel.fit_kernel`` with its default settings: exact up to 2,000
images, Nyström with 2,000 landmarks above, settings chosen on at most 4,000 images.
Peak memory is the process's peak resident size after each fit (it only grows, so sizes
run smallest first). Targets: 10,000 images under 10 s, 100,000 under 60 s (2-core CPU).

    python benchmarks/kernel_fit.py                         # 2,000, 10,000 and 100,000
    python benchmarks/kernel_fit.py --quick --json out.json # a CI check: 300 and 2,500, 64-d

Timings need a quiet machine: with 2 cores, another busy process slows the BLAS threads
several-fold. JSON: ``config``; ``results``, one per size, each with ``images``,
``seconds``, ``peak_mb``, ``method`` (exact or nystrom), the chosen ``kind``, ``width``
and ``penalty``, ``target_s`` and ``target_met`` (null where no target); ``machine``;
``seconds``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import _common
import numpy as np

from tastemaker.training.kernel import fit_kernel

TARGETS_S = {10_000: 10.0, 100_000: 60.0}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_size(n: int, dim: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    u, v = rng.normal(size=(2, dim)) / np.sqrt(dim)
    y = x @ u + 0.5 * np.tanh(x @ v) + 0.3 * rng.normal(size=n)
    start = time.perf_counter()
    fit = fit_kernel(x, y)
    seconds = time.perf_counter() - start
    model = fit.model
    return {
        "images": n,
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "method": fit.method,
        "kind": model.kind,
        "width": model.width,
        "penalty": model.penalty,
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
        ["images", "seconds", "peak MB", "method", "kernel", "λ", "target s", "met"],
        [
            [
                r["images"],
                r["seconds"],
                r["peak_mb"],
                r["method"],
                r["kind"],
                f"{r['penalty']:.3g}",
                r["target_s"],
                r["target_met"],
            ]
            for r in results
        ],
        title=f"kernel fit, {args.dim}-d synthetic embeddings",
    )
    config = {"sizes": sorted(args.sizes), "dim": args.dim, "seed": args.seed}
    return _common.finish(args.json, time.perf_counter() - started, config=config, results=results)


if __name__ == "__main__":
    sys.exit(main())

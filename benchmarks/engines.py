"""Images per second of ``--engine ray`` on one machine against the local engine.

Both score the same generated photos (JPEGs of ``--sides`` px, 320 to 640 unless given)
with the same taste model into a Parquet folder, through
``tastemaker.workflows.bulk.run_to_parquet`` as ``tastemaker score … -o OUT.parquet``
runs it:

``local``  the default engine: DataLoader worker processes decode while the model runs
           in this process;
``ray``    Ray Data on a local Ray started here beforehand (``ray.init(num_cpus=N)``, its
           start-up timed apart as ``ray_start_s``), the batch function in an actor pool
           of one actor per CPU, each loading the model once.

Each engine is timed ``--repeats`` times, alternating, into a new folder each time; the
best time counts. The headline is ``overhead`` = local images/s ÷ Ray images/s, both from
this run (1 = no overhead; above 1, what Ray's scheduling and serialisation cost on one
machine, where it has no more hardware to use than the local engine). ``max_abs_diff``
checks that both wrote the same scores.

The taste model: a small MLP on EfficientNet-Lite0's embeddings (the backbone's real
weights ship with tastemaker, nothing is downloaded), fitted here to a made-up taste;
``--extractor NAME`` takes another (a hub id in the local cache, a local folder).

    python benchmarks/engines.py                    # 192 photos, best of 2
    python benchmarks/engines.py --quick --json out.json     # a CI check: 48 photos

JSON: ``config``; ``results`` with ``images``, ``ray_start_s``, ``local`` and ``ray``
(``seconds``, best of the repeats, ``images_per_s``, ``all_seconds``), ``overhead`` and
``max_abs_diff``; ``machine``; ``seconds``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing reaches the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
from extraction import make_photos

from tastemaker.engines.batch import Job
from tastemaker.workflows.bulk import run_to_parquet

EXTRACTOR = "efficientnet-lite0"


def taste_model(folder: Path, extractor: str, photos: list[Path]) -> Path:
    """A small MLP on ``photos``' embeddings: any model does, what is timed is the
    pipeline."""
    from tastemaker.features.extract import extract
    from tastemaker.features.layers import LayerChoice
    from tastemaker.features.loaders import load_extractor

    loaded = load_extractor(extractor, "cpu")
    x = np.concatenate([b.vectors for b in extract(loaded, photos[:32], LayerChoice())])
    return _common.fit_taste(x, extractor, folder / "taste.safetensors", choices=400)


def timed(job: Job, photos: list[Path], out: Path, engine: str) -> float:
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    run = run_to_parquet(job, photos, out, engine=engine)
    seconds = time.perf_counter() - started
    if run.written != len(photos) or run.failures:
        raise RuntimeError(f"{engine}: wrote {run.written} of {len(photos)}: {run.failures[:3]}")
    return seconds


def scores(folder: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    table = pq.read_table(folder, columns=["path", "score"]).to_pydict()
    return dict(zip(table["path"], table["score"], strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="The Ray engine on one machine against the local.")
    ap.add_argument("--images", type=int, help="photos to score (default 192; 48 with --quick)")
    ap.add_argument("--sides", type=int, nargs=2, default=(320, 640), help="photo side range")
    ap.add_argument("--repeats", type=int, help="runs of each engine (default 2; 1 with --quick)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="Ray's CPUs")
    ap.add_argument("--extractor", default=EXTRACTOR, help="the taste model's backbone")
    ap.add_argument("--quick", action="store_true", help="48 photos, one run each: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    n = args.images or (48 if args.quick else 192)
    repeats = args.repeats or (1 if args.quick else 2)
    config = {
        "images": n,
        "sides": list(args.sides),
        "repeats": repeats,
        "cpus": args.cpus,
        "extractor": args.extractor,
        "quick": args.quick,
    }
    started = time.perf_counter()
    import ray

    with tempfile.TemporaryDirectory(prefix="tm-engines-") as tmp:
        folder = Path(tmp)
        photos = make_photos(folder / "photos", n, sides=tuple(args.sides))
        job = Job.scoring(taste_model(folder, args.extractor, photos))
        timed(job, photos[:16], folder / "warm.parquet", "local")  # loads, starts workers once
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        try:
            times: dict[str, list[float]] = {"local": [], "ray": []}
            for _ in range(repeats):
                for engine in times:
                    times[engine].append(timed(job, photos, folder / f"{engine}.parquet", engine))
            local, theirs = scores(folder / "local.parquet"), scores(folder / "ray.parquet")
        finally:
            ray.shutdown()
    diff = max(abs(local[p] - theirs[p]) for p in local)
    result: dict[str, object] = {"images": n, "ray_start_s": ray_start}
    for engine, seconds in times.items():
        best = min(seconds)
        result[engine] = {"seconds": best, "images_per_s": n / best, "all_seconds": seconds}
    overhead = _common.ratio(min(times["ray"]), min(times["local"]))
    result |= {"overhead": overhead, "max_abs_diff": diff}
    _common.print_table(
        ["engine", "images", "best s", "images/s"],
        [[e, n, min(s), n / min(s)] for e, s in times.items()],
        title=f"{args.extractor}, {n} photos of {args.sides[0]}-{args.sides[1]} px",
    )
    print(f"\nRay start-up {ray_start:.1f} s (not in its time); overhead {overhead:.2f}x")
    print(f"max |score difference| {diff:.2g}")
    return _common.finish(args.json, time.perf_counter() - started, config=config, results=result)


if __name__ == "__main__":
    raise SystemExit(main())

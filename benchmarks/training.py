"""Time to train one taste model, and a 20-trial search, on cached embeddings (CPU).

Training works on embedding arrays, never on image files, so this is what ``tastemaker
train`` costs once the embeddings are cached. The data are
``tastemaker.training.synthetic.synthetic_taste``: 768-d standard normal embeddings (the
size of CLIP ViT-L/14's), 5 choices per image between random pairs decided by a known
taste, a quarter of the images held out; 1,000 and 10,000 images by default.

``one model``  ``train_model`` with the default ``TrainParams`` (at most 30 epochs, early
               stopping), best of ``--repeats``;
``search``     ``search(data, 20, ...)``: Optuna TPE, median pruning, seed 0, as ``train``
               runs it, once.

Both run with tastemaker's default CPU threads (``default_cpu_threads``: half the cores, at
most 4). Reported: seconds, the held-out metric reached (a check that it learned), and the
ratio of each size's time to the smallest size's, from this run.

Targets: one model on 10,000 images under 10 s; a 20-trial search under 2 minutes.

    python benchmarks/training.py                         # 1,000 and 10,000 images
    python benchmarks/training.py --quick --json out.json # a CI check: 200 and 400, 3 trials

JSON: ``config``; ``results`` keyed by size, each with ``images``, ``comparisons``,
``one_model`` (``seconds`` best, ``all_seconds``, ``epochs_run``, ``objective``,
``heldout``, the held-out value) and ``search`` (``seconds``, ``trials``, ``complete``,
``pruned``, ``objective``, ``best``), ``one_model_ratio`` and ``search_ratio`` (vs the
smallest size); ``targets`` (``one_model_10k_s``, ``one_model_target_met``,
``search_largest_s``, ``search_target_met``; null where not run); ``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import os
import time

import _common
import optuna

from tastemaker.training import TrainParams, search, train_model
from tastemaker.training.loop import default_cpu_threads
from tastemaker.training.search import objective_for
from tastemaker.training.synthetic import synthetic_taste

META = {"extractor": "synthetic-768", "layers": (0,), "layer_mode": "join", "ratings": "elo"}
ONE_MODEL_TARGET_S = 10.0
SEARCH_TARGET_S = 120.0
TARGET_SIZE = 10_000


def run_size(n: int, dim: int, trials: int, repeats: int) -> dict:
    data = synthetic_taste(n, dim, choices_per_image=5.0, seed=0)
    objective = objective_for(data)
    result: dict = {"images": n, "comparisons": len(data.winners)}
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        one = train_model(data, TrainParams(), META, seed=0, device="cpu")
        times.append(time.perf_counter() - t)
    result["one_model"] = {
        "seconds": min(times),
        "all_seconds": times,
        "epochs_run": int(one.metrics["epochs_run"]),
        "objective": objective,
        "heldout": one.metrics.get(objective),
    }
    print(
        f"{n:,} images: one model {min(times):.2f} s ({result['one_model']['epochs_run']} epochs)",
        flush=True,
    )
    t = time.perf_counter()
    found = search(data, trials, META, seed=0, device="cpu")
    seconds = time.perf_counter() - t
    states = [tr.state for tr in found.study.trials]
    result["search"] = {
        "seconds": seconds,
        "trials": len(states),
        "complete": states.count(optuna.trial.TrialState.COMPLETE),
        "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "objective": found.objective,
        "best": found.best.metrics.get(found.objective),
    }
    print(f"{n:,} images: {trials}-trial search {seconds:.1f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Time to train one model and a 20-trial search on cached embeddings."
    )
    ap.add_argument("--images", type=int, nargs="+", help="sizes (default 1000 10000)")
    ap.add_argument("--dim", type=int, default=768, help="embedding size (default 768)")
    ap.add_argument("--trials", type=int, help="search trials (default 20; 3 with --quick)")
    ap.add_argument("--repeats", type=int, help="one-model runs, best counts (default 3; 1 quick)")
    ap.add_argument("--quick", action="store_true", help="200 and 400 images, 3 trials: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    sizes = sorted(set(args.images or ((200, 400) if args.quick else (1000, TARGET_SIZE))))
    config = {
        "images": sizes,
        "dim": args.dim,
        "trials": args.trials or (3 if args.quick else 20),
        "repeats": args.repeats or (1 if args.quick else 3),
        "choices_per_image": 5.0,
        "threads": default_cpu_threads(),
        "device": "cpu",
        "quick": args.quick,
    }
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # warm-up: torch's first steps in a process cost extra, whichever size comes first
    train_model(synthetic_taste(64, args.dim), TrainParams(epochs=2), META, device="cpu")
    started = time.perf_counter()
    results = {str(n): run_size(n, args.dim, config["trials"], config["repeats"]) for n in sizes}
    first = results[str(sizes[0])]
    for r in results.values():
        r["one_model_ratio"] = _common.ratio(
            r["one_model"]["seconds"], first["one_model"]["seconds"]
        )
        r["search_ratio"] = _common.ratio(r["search"]["seconds"], first["search"]["seconds"])
    seconds = time.perf_counter() - started

    at_target = results.get(str(TARGET_SIZE))
    largest = results[str(sizes[-1])]
    full_search = config["trials"] >= 20 and sizes[-1] >= TARGET_SIZE
    targets = {
        "one_model_10k_s": None if at_target is None else at_target["one_model"]["seconds"],
        "one_model_target_met": None
        if at_target is None
        else at_target["one_model"]["seconds"] < ONE_MODEL_TARGET_S,
        "search_largest_s": largest["search"]["seconds"],
        "search_target_met": largest["search"]["seconds"] < SEARCH_TARGET_S
        if full_search
        else None,
    }
    base = f"{sizes[0]:,}"
    _common.print_table(
        [
            *("images", "comparisons", "one model s", "epochs", f"/ {base}", "held-out"),
            *(f"{config['trials']}-trial search s", "complete", "pruned", f"/ {base}", "best"),
        ],
        [
            [
                r["images"],
                r["comparisons"],
                r["one_model"]["seconds"],
                r["one_model"]["epochs_run"],
                r["one_model_ratio"],
                r["one_model"]["heldout"],
                r["search"]["seconds"],
                r["search"]["complete"],
                r["search"]["pruned"],
                r["search_ratio"],
                r["search"]["best"],
            ]
            for r in results.values()
        ],
        title=(
            f"{args.dim}-d synthetic embeddings, CPU, {config['threads']} torch thread(s) of "
            f"{os.cpu_count()} CPU(s); one model: best of {config['repeats']}; held-out: "
            f"{first['one_model']['objective']}"
        ),
        digits=3,
    )
    print(
        f"\ntargets: one model on {TARGET_SIZE:,} {_common.fmt(targets['one_model_10k_s'])} s "
        f"(< {ONE_MODEL_TARGET_S:g} s: {_common.fmt(targets['one_model_target_met'])}); "
        f"{config['trials']}-trial search on {sizes[-1]:,} {targets['search_largest_s']:.1f} s "
        f"(20 trials on 10,000 < {SEARCH_TARGET_S:g} s: "
        f"{_common.fmt(targets['search_target_met'])})"
    )
    return _common.finish(args.json, seconds, config=config, results=results, targets=targets)


if __name__ == "__main__":
    raise SystemExit(main())

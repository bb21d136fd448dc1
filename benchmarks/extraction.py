"""Images per second of the batched extractor against a one-image-at-a-time loop.

Both embed the same generated photos (JPEGs of 512 to 1,024 px a side, so decoding and
resizing matter, as with real photos) with the same loaded extractor:

``loop``     how the seed extracts: open one image, preprocess it, run the model on it
             alone, next (``Image.open`` -> ``extractor.preprocess`` -> ``extractor.embed``
             on a batch of one, in the main process);
``batched``  ``tastemaker.features.extract.extract`` as ``train`` and ``score`` call it:
             DataLoader worker processes decode and preprocess while the model runs on
             the previous batch (its default workers and batch size unless given).

Each is timed ``--repeats`` times, alternating, after a warm-up; the best time counts.
The model runs with torch's own number of CPU threads unless ``--threads`` says otherwise
(the same for both, as are ``--workers`` and ``--batch-size`` for the batched one).
The headline is ``speedup`` = batched images/s ÷ loop images/s, both from this run
(target: at least 2 on a CPU). ``max_abs_diff`` checks that both give the same vectors.

Extractors: a tiny CLIP with random weights built here (``tiny-clip``: its model costs
almost nothing, so it measures the pipeline: decoding, preprocessing, batching), and
``efficientnet-lite0``, a real backbone whose weights ship with tastemaker (no download);
``--extractor NAME`` (repeatable) replaces it with other names (``tastemaker
extractors``, a hub id in the local cache, a local folder). Nothing reaches the network:
a name that cannot be loaded offline is skipped with its reason (exit 0).

    python benchmarks/extraction.py                    # 160 photos: tiny-clip, efficientnet-lite0
    python benchmarks/extraction.py --quick --json out.json     # a CI check: 24 photos, tiny-clip
    python benchmarks/extraction.py --extractor openai/clip-vit-base-patch32 --images 64

JSON: ``config``; ``results`` keyed by extractor, each with ``extractor``, ``source``, ``dim``,
``images``, ``load_s``, ``loop`` and ``batched`` (``seconds``, best of the repeats,
``images_per_s``, ``all_seconds``), ``speedup``, ``target_met`` (speedup >= 2) and
``max_abs_diff``; ``skipped`` (``extractor``, ``reason``); ``machine``; ``seconds``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing reaches the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
import torch
from PIL import Image, ImageOps

from tastemaker.device import pick_device
from tastemaker.features.extract import default_batch_size, default_workers, extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import Extractor, load_extractor

TARGET_SPEEDUP = 2.0
TINY = "tiny-clip"
REAL = "efficientnet-lite0"


def save_tiny_clip(folder: Path, projection_dim: int = 16) -> Path:
    """A three-layer CLIP vision tower with random weights and its image processor, saved
    with ``save_pretrained`` so that ``load_extractor(folder)`` loads it as it would a
    downloaded CLIP (the same builder as ``tests/conftest.py``'s ``save_tiny_backbone``)."""
    import transformers as t

    config = t.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=3,
        image_size=32,
        patch_size=8,
        projection_dim=projection_dim,
    )
    t.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    t.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


def make_photos(
    folder: Path, n: int, sides: tuple[int, int] = (512, 1024), seed: int = 0
) -> list[Path]:
    """``n`` photo-like JPEGs (smooth colour fields with grain, quality 90), each side
    drawn from ``sides``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = (int(s) for s in rng.integers(sides[0], sides[1] + 1, 2))
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
        grain = rng.normal(0, 10, (h, w, 1)).astype(np.float32)
        pixels = np.clip(field + grain, 0, 255).astype(np.uint8)
        path = folder / f"photo{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def run_loop(extractor: Extractor, paths: list[Path], choice: LayerChoice) -> np.ndarray:
    """One image at a time: open, preprocess, forward, next (the classic scorer's way)."""
    rows = []
    for path in paths:
        with Image.open(path) as im:
            pixels = extractor.preprocess(ImageOps.exif_transpose(im).convert("RGB"))
        rows.append(extractor.embed(torch.from_numpy(pixels[None]), choice)[0])
    return np.stack(rows)


def run_batched(
    extractor: Extractor,
    paths: list[Path],
    choice: LayerChoice,
    batch_size: int | None,
    workers: int | None,
) -> np.ndarray:
    """tastemaker's extractor: DataLoader workers decode while the model runs."""
    out: np.ndarray | None = None
    for batch in extract(extractor, paths, choice, batch_size=batch_size, workers=workers):
        if batch.failures:
            raise RuntimeError(f"unreadable generated images: {batch.failures}")
        if out is None:
            out = np.empty((len(paths), batch.vectors.shape[1]), np.float32)
        out[batch.indices] = batch.vectors
    assert out is not None
    return out


def measure(
    name: str,
    source: str,
    paths: list[Path],
    repeats: int,
    batch_size: int | None,
    workers: int | None,
) -> dict:
    choice = LayerChoice()
    started = time.perf_counter()
    extractor = load_extractor(source)
    load_s = time.perf_counter() - started
    # warm-up: the first forward passes (and the first worker start) cost extra
    run_loop(extractor, paths[:2], choice)
    warm = 2 * (batch_size or default_batch_size(extractor.device))  # the timed batch shape
    run_batched(extractor, paths[:warm], choice, batch_size, workers)
    times: dict[str, list[float]] = {"loop": [], "batched": []}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for method in ("loop", "batched"):
            t = time.perf_counter()
            if method == "loop":
                vectors[method] = run_loop(extractor, paths, choice)
            else:
                vectors[method] = run_batched(extractor, paths, choice, batch_size, workers)
            times[method].append(time.perf_counter() - t)
    result: dict = {"extractor": name, "source": source, "dim": int(vectors["loop"].shape[1])}
    result["images"] = len(paths)
    result["load_s"] = load_s
    for method, ts in times.items():
        best = min(ts)
        result[method] = {"seconds": best, "images_per_s": len(paths) / best, "all_seconds": ts}
    result["speedup"] = _common.ratio(
        result["batched"]["images_per_s"], result["loop"]["images_per_s"]
    )
    result["target_met"] = result["speedup"] >= TARGET_SPEEDUP
    result["max_abs_diff"] = float(np.abs(vectors["loop"] - vectors["batched"]).max())
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Images/s of the batched extractor against a one-image-at-a-time loop."
    )
    ap.add_argument("--images", type=int, help="generated photos (default 160; 24 with --quick)")
    ap.add_argument(
        "--extractor",
        action="append",
        help="a real extractor to add after tiny-clip (repeatable; default efficientnet-lite0, "
        "none with --quick)",
    )
    ap.add_argument("--no-tiny", action="store_true", help="leave out the tiny CLIP row")
    ap.add_argument("--repeats", type=int, help="timed runs of each method (default 3; 1 quick)")
    ap.add_argument("--batch-size", type=int, help="batched: images a batch (default: its own)")
    ap.add_argument("--workers", type=int, help="batched: DataLoader workers (default: its own)")
    ap.add_argument(
        "--threads", type=int, help="torch threads for the model (default: torch's own)"
    )
    ap.add_argument("--min-side", type=int, default=512, help="photo sides from (default 512)")
    ap.add_argument("--max-side", type=int, default=1024, help="... to (default 1024)")
    ap.add_argument("--quick", action="store_true", help="24 photos, tiny-clip, once: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.images or (24 if args.quick else 160)
    repeats = args.repeats or (1 if args.quick else 3)
    real = args.extractor if args.extractor is not None else ([] if args.quick else [REAL])
    device = pick_device()  # where load_extractor runs the model
    config = {
        "images": n,
        "sides": [args.min_side, args.max_side],
        "repeats": repeats,
        "batch_size": args.batch_size or default_batch_size(device),
        "workers": default_workers() if args.workers is None else args.workers,
        "torch_threads": torch.get_num_threads(),
        "extractors": ([] if args.no_tiny else [TINY]) + real,
        "quick": args.quick,
    }
    started = time.perf_counter()
    results: dict[str, dict] = {}
    skipped: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-") as tmp:
        t = time.perf_counter()
        paths = make_photos(Path(tmp) / "photos", n, (args.min_side, args.max_side))
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{n} photos, {megabytes:.1f} MB, made in {time.perf_counter() - t:.1f} s")
        sources = [] if args.no_tiny else [(TINY, str(save_tiny_clip(Path(tmp) / "tiny-clip")))]
        sources += [(name, name) for name in real]
        for name, source in sources:
            try:
                results[name] = measure(name, source, paths, repeats, args.batch_size, args.workers)
            except Exception as e:  # a name that cannot load offline: skip it, say why
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                print(f"skipped {name}: {reason}")
                skipped.append({"extractor": name, "reason": reason})
                continue
            r = results[name]
            print(
                f"{name}: loop {r['loop']['images_per_s']:.1f}/s, batched "
                f"{r['batched']['images_per_s']:.1f}/s, x{r['speedup']:.2f}",
                flush=True,
            )
    config["megabytes"] = megabytes
    seconds = time.perf_counter() - started

    rows = [
        [
            name,
            r["dim"],
            r["loop"]["images_per_s"],
            r["batched"]["images_per_s"],
            r["speedup"],
            r["target_met"],
            f"{r['max_abs_diff']:.1e}",
        ]
        for name, r in results.items()
    ]
    _common.print_table(
        ["extractor", "dim", "loop img/s", "batched img/s", "speedup", ">= 2x", "max |diff|"],
        rows,
        title=(
            f"{n} JPEGs of {args.min_side}-{args.max_side} px, best of {repeats}; batched: "
            f"{config['workers']} worker(s), batch {config['batch_size']}; "
            f"{os.cpu_count()} CPU(s), {torch.get_num_threads()} torch thread(s)"
        ),
    )
    for s in skipped:
        print(f"skipped {s['extractor']}: {s['reason']}")
    return _common.finish(args.json, seconds, config=config, results=results, skipped=skipped)


if __name__ == "__main__":
    raise SystemExit(main())

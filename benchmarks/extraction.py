"""Extraction at the speed of the hardware: how close tastemaker's pipeline, files in and
embeddings out, comes to the backbone's own forward rate.

Three rates, measured side by side in one run for each extractor, on the same generated
photos (JPEGs of 512 to 1,024 px a side, the size of generated images; ``--min-side`` and
``--max-side`` for camera-sized ones):

``raw``       the limit the backbone sets: ``extractor.embed`` on batches of pixels decoded
              and preprocessed beforehand (in full) and already on the device, the same
              batch size as the pipeline's; the model alone;
``decode``    the limit decoding sets: ``pixel_batches``, the pipeline's own decoding half
              (worker processes decode, reduce JPEGs with ``draft``, preprocess, collate),
              with no model;
``pipeline``  ``tastemaker.features.extract.extract`` as ``train`` and ``score`` call it.

Each is timed ``--repeats`` times, interleaved, after a warm-up; the best time counts. The
headline is ``fraction`` = pipeline images/s ÷ raw images/s (target: at least 0.90).
On a CPU the model and the decoding share the same cores, so the pipeline cannot beat
``shared_ceiling`` = 1 / (1/raw + 1/decode) images/s (each image costs its forward pass
and its decoding, both measured using every core); ``of_ceiling`` = pipeline ÷ that. On a
GPU the two overlap, and the pipeline can reach ``raw`` where ``decode`` is faster.
``min_cosine`` and ``max_abs_diff`` compare the pipeline's embeddings with raw's: what
reduced JPEG decoding changed (nothing unless a photo's shorter side is at least 4× the
model's input side, see ``DRAFT_MARGIN``).

Extractors: a CLIP vision tower built from its config with random weights, saved and loaded
through the normal loader, so that its forward pass costs what the real one does
(``--clip-config``: ``vit-b-32``, the default, as ``openai/clip-vit-base-patch32``;
``vit-l-14``, tastemaker's default extractor's size, for GPUs (on a CPU give it few
images); ``tiny``, three small layers, which measures the pipeline alone), and
``efficientnet-lite0``, whose real weights ship with tastemaker. ``--extractor NAME``
(repeatable) replaces the latter with other names (``tastemaker extractors``, a hub id in
the local cache, a local folder). Nothing reaches the network: a name that cannot be
loaded offline is skipped with its reason (exit 0).

    python benchmarks/extraction.py                # 160 photos: CLIP ViT-B/32, EfficientNet-Lite0
    python benchmarks/extraction.py --quick --json out.json     # a CI check: 24 photos, tiny CLIP
    python benchmarks/extraction.py --clip-config vit-l-14 --no-real --images 512     # on a GPU

JSON: ``config``; ``results`` keyed by extractor, each with ``extractor``, ``source``, ``dim``,
``images``, ``load_s``, ``raw``, ``decode`` and ``pipeline`` (``seconds``, best of the
repeats, ``images_per_s``, ``all_seconds``), ``fraction``, ``target_met`` (fraction >= 0.90),
``shared_ceiling``, ``of_ceiling``, ``min_cosine`` and ``max_abs_diff``; ``skipped``
(``extractor``, ``reason``); ``machine``; ``seconds``.
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
from PIL import Image

from tastemaker.device import pick_device
from tastemaker.features.extract import (
    default_batch_size,
    default_workers,
    extract,
    pixel_batches,
)
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import Extractor, load_extractor
from tastemaker.storage.decode import decode

TARGET_FRACTION = 0.90
REAL = "efficientnet-lite0"
# CLIP vision towers by size: transformers' CLIPVisionConfig defaults are ViT-B/32's
CLIP_CONFIGS: dict[str, dict[str, int]] = {
    "tiny": {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "image_size": 32,
        "patch_size": 8,
        "projection_dim": 16,
    },
    "vit-b-32": {"projection_dim": 512},
    "vit-l-14": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "patch_size": 14,
        "projection_dim": 768,
    },
}


def save_clip(folder: Path, size: str, projection_dim: int | None = None) -> Path:
    """A CLIP vision tower of ``size`` (a key of ``CLIP_CONFIGS``; its output size
    ``projection_dim`` if given) with random weights and OpenAI's image processor at its
    input size, saved with ``save_pretrained`` so that ``load_extractor(folder)`` loads it
    as it would a downloaded CLIP."""
    import transformers as t

    sized = {"projection_dim": projection_dim} if projection_dim else {}
    config = t.CLIPVisionConfig(**(CLIP_CONFIGS[size] | sized))
    torch.manual_seed(0)
    t.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    side = config.image_size
    t.CLIPImageProcessor(  # its other defaults are OpenAI's: bicubic, their mean and std
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
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


def run_raw(extractor: Extractor, pixels: torch.Tensor, batch_size: int) -> np.ndarray:
    """The model alone, on pixels already decoded, preprocessed and on its device."""
    choice = LayerChoice()
    return np.concatenate(
        [
            extractor.embed(pixels[i : i + batch_size], choice)
            for i in range(0, len(pixels), batch_size)
        ]
    )


def run_decode(
    extractor: Extractor, paths: list[Path], batch_size: int, workers: int | None
) -> int:
    """The pipeline's decoding half alone: how many images it decoded."""
    done = 0
    for indices, _pixels, failures in pixel_batches(extractor, paths, batch_size, workers):
        if failures:
            raise RuntimeError(f"unreadable generated images: {failures}")
        done += len(indices)
    return done


def run_pipeline(
    extractor: Extractor, paths: list[Path], batch_size: int, workers: int | None
) -> np.ndarray:
    """tastemaker's extractor, files in, embeddings out."""
    out: np.ndarray | None = None
    for batch in extract(extractor, paths, LayerChoice(), batch_size=batch_size, workers=workers):
        if batch.failures:
            raise RuntimeError(f"unreadable generated images: {batch.failures}")
        if out is None:
            out = np.empty((len(paths), batch.vectors.shape[1]), np.float32)
        out[batch.indices] = batch.vectors
    assert out is not None
    return out


def predecoded(extractor: Extractor, paths: list[Path]) -> torch.Tensor:
    """Every photo decoded in full and preprocessed, on the extractor's device."""
    arrays = [extractor.preprocess(decode(path)) for path in paths]
    return torch.from_numpy(np.stack(arrays)).to(extractor.device)


def measure(
    name: str,
    source: str,
    paths: list[Path],
    repeats: int,
    batch_size: int | None,
    workers: int | None,
) -> dict:
    started = time.perf_counter()
    extractor = load_extractor(source)
    load_s = time.perf_counter() - started
    size = batch_size or default_batch_size(extractor.device)
    pixels = predecoded(extractor, paths)
    # warm-up: the first forward passes (and the first worker start) cost extra
    run_raw(extractor, pixels[:size], size)
    run_pipeline(extractor, paths[: 2 * size], size, workers)
    times: dict[str, list[float]] = {"raw": [], "decode": [], "pipeline": []}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for method in times:
            t = time.perf_counter()
            if method == "raw":
                vectors[method] = run_raw(extractor, pixels, size)
            elif method == "decode":
                run_decode(extractor, paths, size, workers)
            else:
                vectors[method] = run_pipeline(extractor, paths, size, workers)
            times[method].append(time.perf_counter() - t)
    raw, pipe = vectors["raw"], vectors["pipeline"]
    result: dict = {"extractor": name, "source": source, "dim": int(raw.shape[1])}
    result["images"] = len(paths)
    result["load_s"] = load_s
    for method, ts in times.items():
        best = min(ts)
        result[method] = {"seconds": best, "images_per_s": len(paths) / best, "all_seconds": ts}
    result["fraction"] = _common.ratio(
        result["pipeline"]["images_per_s"], result["raw"]["images_per_s"]
    )
    result["target_met"] = result["fraction"] >= TARGET_FRACTION
    rates = [result[m]["images_per_s"] for m in ("raw", "decode")]
    result["shared_ceiling"] = 1 / sum(1 / rate for rate in rates)
    result["of_ceiling"] = result["pipeline"]["images_per_s"] / result["shared_ceiling"]
    cosines = (raw * pipe).sum(1) / (np.linalg.norm(raw, axis=1) * np.linalg.norm(pipe, axis=1))
    result["min_cosine"] = float(cosines.min())
    result["max_abs_diff"] = float(np.abs(raw - pipe).max())
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Images/s of the extraction pipeline against the backbone's own forward rate."
    )
    ap.add_argument("--images", type=int, help="generated photos (default 160; 24 with --quick)")
    ap.add_argument(
        "--clip-config",
        choices=list(CLIP_CONFIGS),
        help="the CLIP built with random weights (default vit-b-32; tiny with --quick)",
    )
    ap.add_argument("--no-clip", action="store_true", help="leave out the CLIP row")
    ap.add_argument(
        "--extractor",
        action="append",
        help="a real extractor to add after the CLIP (repeatable; default efficientnet-lite0, "
        "none with --quick)",
    )
    ap.add_argument("--no-real", action="store_true", help="leave out efficientnet-lite0")
    ap.add_argument("--repeats", type=int, help="timed runs of each (default 3; 1 with --quick)")
    ap.add_argument("--batch-size", type=int, help="images a batch (default: the extractor's)")
    ap.add_argument("--workers", type=int, help="decoding processes (default: the extractor's)")
    ap.add_argument(
        "--threads", type=int, help="torch threads for the model (default: torch's own)"
    )
    ap.add_argument("--min-side", type=int, default=512, help="photo sides from (default 512)")
    ap.add_argument("--max-side", type=int, default=1024, help="... to (default 1024)")
    ap.add_argument("--quick", action="store_true", help="24 photos, tiny CLIP, once: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.images or (24 if args.quick else 160)
    repeats = args.repeats or (1 if args.quick else 3)
    clip = None if args.no_clip else args.clip_config or ("tiny" if args.quick else "vit-b-32")
    real = args.extractor or ([] if args.quick or args.no_real else [REAL])
    device = pick_device()  # where load_extractor runs the model
    config = {
        "images": n,
        "sides": [args.min_side, args.max_side],
        "repeats": repeats,
        "device": str(device),
        "batch_size": args.batch_size or default_batch_size(device),
        "workers": default_workers() if args.workers is None else args.workers,
        "torch_threads": torch.get_num_threads(),
        "extractors": ([f"clip-{clip}"] if clip else []) + real,
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
        sources = [(f"clip-{clip}", str(save_clip(Path(tmp) / "clip", clip)))] if clip else []
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
                f"{name}: raw {r['raw']['images_per_s']:.1f}/s, decode "
                f"{r['decode']['images_per_s']:.1f}/s, pipeline "
                f"{r['pipeline']['images_per_s']:.1f}/s, {r['fraction']:.2f} of raw",
                flush=True,
            )
    config["megabytes"] = megabytes
    seconds = time.perf_counter() - started

    rows = [
        [
            name,
            r["dim"],
            r["raw"]["images_per_s"],
            r["decode"]["images_per_s"],
            r["pipeline"]["images_per_s"],
            r["fraction"],
            r["target_met"],
            r["shared_ceiling"],
            r["of_ceiling"],
            f"{r['min_cosine']:.6f}",
        ]
        for name, r in results.items()
    ]
    headers = ["extractor", "dim", "raw img/s", "decode img/s", "pipeline img/s", "of raw"]
    _common.print_table(
        [*headers, ">= 0.90", "ceiling img/s", "of ceiling", "min cos"],
        rows,
        title=(
            f"{n} JPEGs of {args.min_side}-{args.max_side} px, best of {repeats}, on {device}; "
            f"{config['workers']} decoding process(es), batch {config['batch_size']}; "
            f"{os.cpu_count()} CPU(s), {torch.get_num_threads()} torch thread(s)"
        ),
    )
    for s in skipped:
        print(f"skipped {s['extractor']}: {s['reason']}")
    return _common.finish(args.json, seconds, config=config, results=results, skipped=skipped)


if __name__ == "__main__":
    raise SystemExit(main())

"""What the benchmarks share: a plain text table, the JSON file, percentiles, a machine note.

Each benchmark is a script run alone (``python benchmarks/NAME.py [--quick] [--json FILE]``);
Python puts the script's folder on ``sys.path``, so ``import _common`` finds this file.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np


def fmt(value: object, digits: int = 2) -> str:
    """A table cell: numbers rounded, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    title: str | None = None,
    digits: int = 2,
    out: TextIO = sys.stdout,
) -> None:
    """Rows under headers: the first column left-aligned, the others right-aligned."""
    cells = [[fmt(c, digits) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    if title:
        print(f"\n{title}", file=out)
    print(line(list(headers)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print(line(row), file=out)


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """``{"p50": …, "p90": …, "p99": …, "mean": …, "max": …}`` of ``values``."""
    a = np.asarray(values, np.float64)
    out = {f"p{q:g}": float(np.percentile(a, q)) for q in qs}
    out["mean"] = float(a.mean())
    out["max"] = float(a.max())
    return out


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def machine() -> dict[str, Any]:
    """Where the numbers were measured (they mean little without it)."""
    torch = sys.modules.get("torch")  # described only where the benchmark uses it
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def finish(path: str | os.PathLike[str] | None, seconds: float, **payload: Any) -> int:
    """End a benchmark: print its running time, write its JSON (with the machine and the
    time added) and return the exit code 0."""
    print(f"\n{seconds:.1f} s")
    write_json(path, {**payload, "machine": machine(), "seconds": seconds})
    return 0


def write_json(path: str | os.PathLike[str] | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (nothing when None), indented, keys as given."""
    if path is None:
        return
    Path(path).write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nwrote {path}")


def fit_taste(x: np.ndarray, extractor: str, path: Path, choices: int = 1000) -> Path:
    """A small MLP taste model for ``extractor``'s embeddings, fitted to a made-up taste
    (the first dimension of ``x``) and saved at ``path``: any model does where what is
    measured is the machinery around it."""
    from tastemaker.training import TrainingData, TrainParams, train_model

    rng = np.random.default_rng(0)
    scores = x[:, 0].astype(np.float64)
    a, b = rng.integers(0, len(x), choices), rng.integers(0, len(x), choices)
    keep = a != b
    winners = np.where(scores[a] > scores[b], a, b)[keep]
    losers = np.where(scores[a] > scores[b], b, a)[keep]
    meta = {"extractor": extractor, "layers": (0,), "layer_mode": "join", "ratings": "elo"}
    result = train_model(
        TrainingData(x, scores, winners, losers),
        TrainParams(epochs=2, hidden=(32, 8)),
        meta,
        device="cpu",
    )
    return result.model.save(path)

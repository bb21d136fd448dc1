"""The Ray Data engine: the batch function as a ``map_batches`` stage whose actor pool
loads the model once per actor, the rows streamed back to the caller, which writes them.
When the cluster has GPUs, CPU tasks anywhere in it decode and preprocess the images
first, and one actor per GPU runs the model in fp16; on CPUs alone, up to one actor per
CPU decodes its own batches, which measured faster than copying the pixels between
processes (26 against 36 images/s on two cores, ``benchmarks/engines.py``).

Without an address it starts a Ray of its own on this machine (and stops it after);
with one it joins that cluster, whose every node must hold tastemaker and see the
images at the same paths (a shared file system)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tastemaker.engines.batch import BatchFunction, Columns, Job, decoded
from tastemaker.errors import TastemakerError

RAY_EXTRA = "the ray engine needs the ray extra: pip install 'tastemaker[ray]'"
RAY_BATCH = 64  # paths per actor call: enough to keep a GPU busy, few to redo


def load_ray() -> Any:
    """Ray, or one line naming the extra that brings it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise TastemakerError(RAY_EXTRA) from None
    return ray


def run_ray(
    job: Job,
    paths: Sequence[str],
    address: str | None = None,
    batch_size: int | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Iterator[Columns]:
    """Every path's row (see :class:`BatchFunction`), batch by batch, in no set order.
    A Ray already started in this process (``ray.init``) is used as it is."""
    ray = load_ray()
    started = not ray.is_initialized()
    if started:
        try:
            context = ray.init(
                address=address,
                include_dashboard=None if address else False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise TastemakerError(f"Cannot start {where}: {_first_line(e)}") from None
        if address and getattr(context, "dashboard_url", None):
            say(f"Ray dashboard: http://{context.dashboard_url}")
    quiet = logging.getLogger("ray.data")  # its INFO lines would break the progress bar
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield from _stream(ray, job, paths, batch_size)
    except ray.exceptions.RayError as e:
        refused = _refusal(e)
        if refused is None:
            raise
        raise TastemakerError(refused) from None
    finally:
        quiet.setLevel(level)
        if started:
            ray.shutdown()


def _stream(ray: Any, job: Job, paths: Sequence[str], batch_size: int | None) -> Iterator[Columns]:
    if not paths:
        return
    data = ray.data.DataContext.get_current()
    data.enable_progress_bars = False  # the caller shows one bar, in images/s
    data.enable_auto_log_stats = False
    cluster = ray.cluster_resources()
    gpus = int(cluster.get("GPU", 0))
    actors = gpus or max(1, int(cluster.get("CPU", 1)))
    size = batch_size or RAY_BATCH
    rows = ray.data.from_items([{"path": p} for p in paths])
    if gpus:
        rows = rows.map_batches(
            decoded, fn_kwargs={"job": job}, batch_size=size, batch_format="numpy", num_cpus=1
        )
    stage = rows.map_batches(
        BatchFunction,
        fn_constructor_kwargs={"job": job},
        batch_size=size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
        num_gpus=1 if gpus else 0,
        num_cpus=1,
    )
    yield from stage.iter_batches(batch_size=None, batch_format="numpy")


def _refusal(error: Exception) -> str | None:
    """What a worker refused (a :class:`TastemakerError`: a model file missing on its
    node, say), said as this process would; Ray keeps the error itself only for a task,
    and only the text of an actor's whose creation failed."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, TastemakerError):
        return str(cause)
    said = re.search(r"^tastemaker\.errors\.\w+: (.+)$", str(error), re.MULTILINE)
    return said.group(1) if said else None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

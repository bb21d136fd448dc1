"""Scoring or embedding many image files into a Parquet folder with an engine (this
process, or Ray Data), skipping what an earlier run into the same folder finished."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tastemaker.engines.batch import Columns, Job
from tastemaker.engines.parquet import DEFAULT_SHARD_SIZE, ParquetFolder
from tastemaker.errors import TastemakerError
from tastemaker.progress import Progress, no_progress

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BulkRun:
    written: int  # rows written by this run
    before: int  # of the files given, those the folder held already
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


def check_engine(engine: str, address: str | None) -> None:
    """Refuse an unknown engine, or an address for the engine that takes none; said
    before any file is read."""
    if engine not in ENGINES:
        raise TastemakerError(f"--engine is local or ray, not {engine!r}")
    if address and engine != "ray":
        raise TastemakerError("--address names a Ray cluster: give it with --engine ray")


def run_to_parquet(
    job: Job,
    files: Sequence[Path],
    out: Path,
    engine: str = "local",
    address: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: Progress = no_progress,
    say: Callable[[str], None] = lambda line: None,
) -> BulkRun:
    """Each file's row in ``out`` (see :mod:`tastemaker.engines.parquet`), a shard every
    ``shard_size`` rows; files already there are skipped, so a stopped run resumes."""
    check_engine(engine, address)
    if shard_size < 1:
        raise TastemakerError(f"--shard-size {shard_size}: give how many rows per shard, 1 or more")
    folder = ParquetFolder(out, job.identity())
    paths = list(dict.fromkeys(str(f.absolute()) for f in files))  # each file once
    done = folder.done()
    todo = [p for p in paths if p not in done]
    job_name = f"{'Scoring' if job.model else 'Embedding'} ({engine})"
    progress(job_name, 0, len(todo))
    written = 0
    failures: list[tuple[str, str]] = []
    pending: list[Columns] = []
    held = 0  # rows gathered for the next shards
    tried: set[str] = set()
    try:
        for rows in _rows(job, todo, engine, address, say):
            tried.update(rows["path"].tolist())
            ok = rows["problem"] == ""
            failures += zip(rows["path"][~ok].tolist(), rows["problem"][~ok].tolist(), strict=True)
            pending.append({name: column[ok] for name, column in rows.items() if name != "problem"})
            held += int(ok.sum())
            if held >= shard_size:
                written += _flush(folder, pending, shard_size)
                held = sum(len(p["path"]) for p in pending)
            progress(job_name, written + held + len(failures), len(todo))
        written += _flush(folder, pending, shard_size, last=True)
    finally:  # stopped or not, the files found unreadable are listed
        folder.record_failures(failures, tried, done)
    return BulkRun(written, len(paths) - len(todo), failures)


def _rows(
    job: Job, paths: list[str], engine: str, address: str | None, say: Callable[[str], None]
) -> Iterator[Columns]:
    if not paths:
        return iter(())
    if engine == "ray":
        from tastemaker.engines.ray_data import run_ray

        return run_ray(job, paths, address, say=say)
    from tastemaker.engines.local import run_local

    return run_local(job, paths)


def _flush(folder: ParquetFolder, pending: list[Columns], size: int, last: bool = False) -> int:
    """Write the rows gathered so far as shards of ``size`` rows (and the rest too if
    ``last``), keeping the rest in ``pending``; how many rows were written."""
    if not pending:
        return 0
    rows = {name: np.concatenate([p[name] for p in pending]) for name in pending[0]}
    n = len(rows["path"])
    end = n if last else n - n % size
    for start in range(0, end, size):
        folder.write(
            {name: column[start : min(start + size, end)] for name, column in rows.items()}
        )
    pending[:] = [{name: column[end:] for name, column in rows.items()}] if end < n else []
    return end

"""The default engine: the batch function in this process, images decoded by the
extraction pipeline's own worker processes while the model runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tastemaker.engines.batch import BatchFunction, Columns, Job


def run_local(job: Job, paths: Sequence[str], batch_size: int | None = None) -> Iterator[Columns]:
    """Every path's row (see :class:`BatchFunction`), batch by batch, in order."""
    yield from BatchFunction(job, workers=None, batch_size=batch_size).rows(paths)

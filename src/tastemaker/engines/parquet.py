"""The output of a run over many images: a folder of Parquet shards and a manifest.

``OUT/_tastemaker.json`` names what the rows are (scores by which model file, by its
SHA-256, or embeddings by which extractor and layers); each ``OUT/part-*.parquet`` holds
rows ``path``, ``score`` (and ``uncertainty`` where the model gives one) or ``path``,
``embedding`` (a fixed-size list of float32). A shard appears whole or not at all
(written aside, then renamed), so a run stopped at any moment leaves only finished
rows, and a rerun into the same folder skips their paths: every image ends up there
exactly once. A folder made for another job is refused, never mixed.

The files that could not be read (or scored) are listed in ``OUT/_failed.parquet``
(``path``, ``problem``), kept apart from the rows so that a reader of the folder sees
only real scores; a rerun tries them again and lists those that still fail."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tastemaker import __version__
from tastemaker.errors import TastemakerError

if TYPE_CHECKING:
    import pyarrow as pa

    from tastemaker.engines.batch import Columns

MANIFEST = "_tastemaker.json"  # "_": readers of the folder (pyarrow, pandas) pass it over
SHARDS = "part-*.parquet"
FAILED = "_failed.parquet"  # "_" as for the manifest: not rows of the folder's table
PARQUET_EXTRA = "Parquet output needs pyarrow: pip install 'tastemaker[parquet]'"
# what must match for a rerun to add to a folder (a renamed model file is the same model)
SAME = ("kind", "extractor", "layers", "layer_mode", "model_sha256")
DEFAULT_SHARD_SIZE = 10_000  # rows per shard: what a stopped run may have to redo


def wants_parquet(out: Path | None, fmt: str | None) -> bool:
    """Whether ``-o out`` (and ``--format fmt``) asks for a Parquet folder: the format
    parquet, or a name ending in ``.parquet``."""
    if out is None:
        return False
    return (fmt or out.suffix.lstrip(".")).lower() == "parquet"


def arrow() -> Any:
    """pyarrow and its Parquet module, or one line naming the extra that brings them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise TastemakerError(PARQUET_EXTRA) from None
    return pyarrow


class ParquetFolder:
    """``folder`` opened for ``identity``'s rows: made with its manifest if new or
    empty, refused if it holds another job's rows or files of its own."""

    def __init__(self, folder: Path, identity: Mapping[str, object]) -> None:
        self.pa = arrow()
        self.folder = folder
        self.identity = dict(identity)
        manifest = folder / MANIFEST
        if manifest.is_file():
            self._check(manifest)
        elif folder.is_dir() and any(folder.iterdir()):
            raise TastemakerError(
                f"{folder}: holds files that are not tastemaker's Parquet output; "
                "give a new or empty folder"
            )
        else:
            folder.mkdir(parents=True, exist_ok=True)
            record = {**self.identity, "tastemaker": __version__}
            _replace(manifest, json.dumps(record, indent=1).encode())
        for left in folder.glob(".*.tmp"):  # a file being written when a run stopped
            left.unlink()

    def _check(self, manifest: Path) -> None:
        try:
            theirs = json.loads(manifest.read_text())
            same = all(theirs.get(key) == self.identity.get(key) for key in SAME)
        except (OSError, ValueError, AttributeError) as e:
            raise TastemakerError(f"{manifest}: not a tastemaker manifest ({e})") from None
        if not same:
            raise TastemakerError(
                f"{self.folder}: holds {describe(theirs)}, not {describe(self.identity)}; "
                "give another folder (or delete this one to start over)"
            )

    def done(self) -> set[str]:
        """The paths that the folder's shards hold already."""
        paths: set[str] = set()
        for shard in sorted(self.folder.glob(SHARDS)):
            try:
                column = self.pa.parquet.read_table(shard, columns=["path"]).column("path")
            except (OSError, ValueError, KeyError) as e:
                raise TastemakerError(f"{shard}: cannot be read as a Parquet shard ({e})") from None
            paths.update(column.to_pylist())
        return paths

    def record_failures(
        self, failures: Sequence[tuple[str, str]], *settled: Collection[str]
    ) -> None:
        """List ``failures`` in :data:`FAILED` with those an earlier run listed that are in
        none of ``settled`` (the paths this run tried, those the folder held when it
        began); without any, no such file is left."""
        pa, listed = self.pa, self.folder / FAILED
        earlier: list[tuple[str, str]] = []
        try:
            if listed.is_file():
                earlier = [
                    (r["path"], r["problem"])
                    for r in pa.parquet.read_table(listed, columns=["path", "problem"]).to_pylist()
                    if not any(r["path"] in paths for paths in settled)
                ]
        except (OSError, ValueError, KeyError):  # unreadable: this run's list replaces it
            pass
        rows = dict(earlier + list(failures))
        if not rows:
            listed.unlink(missing_ok=True)
            return
        table = pa.table(
            {
                "path": pa.array(list(rows), pa.string()),
                "problem": pa.array(list(rows.values()), pa.string()),
            }
        )
        aside = self.folder / f".{FAILED}.tmp"
        pa.parquet.write_table(table, aside)
        os.replace(aside, listed)

    def write(self, rows: Columns) -> Path:
        """One shard of ``rows`` (the batch function's columns, ``problem`` left out)."""
        table = self._table(rows)
        name = f"part-{uuid.uuid4().hex}.parquet"
        aside = self.folder / f".{name}.tmp"
        self.pa.parquet.write_table(table, aside)
        os.replace(aside, self.folder / name)
        return self.folder / name

    def _table(self, rows: Columns) -> pa.Table:
        pa = self.pa
        columns: dict[str, Any] = {"path": pa.array(rows["path"].tolist(), pa.string())}
        if self.identity["kind"] == "embeddings":
            vectors = np.ascontiguousarray(rows["embedding"], np.float32)
            flat = pa.array(vectors.reshape(-1), pa.float32())
            columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
        else:
            columns["score"] = pa.array(rows["score"], pa.float64())
            if self.identity.get("uncertainty"):
                columns["uncertainty"] = pa.array(rows["uncertainty"], pa.float64())
        return pa.table(columns)


def describe(identity: Mapping[str, object]) -> str:
    """A job as one phrase: 'scores of model a.safetensors (sha256 1a2b3c4d…)'."""
    if identity.get("kind") == "scores":
        digest = str(identity.get("model_sha256"))[:12]
        return f"scores of model {identity.get('model')} (sha256 {digest}…)"
    layers = identity.get("layers")
    listed = ",".join(map(str, layers)) if isinstance(layers, list) else "?"
    mode = identity.get("layer_mode")
    return f"embeddings by {identity.get('extractor')} (layers {listed}, {mode})"


def _replace(path: Path, data: bytes) -> None:
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_bytes(data)
    os.replace(aside, path)

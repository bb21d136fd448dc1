"""The batch function every engine runs: paths in, each one's score (or embedding) out.

It holds no global state and loads its model once, when it is made, so an engine makes
one per worker: the local engine one in all, decoding in worker processes of its own;
Ray Data one per actor of its pool (the class is a ``map_batches`` callable class as it
is), which decodes its batch itself on a cluster of CPUs (no pixels copied between
processes) and, where there are GPUs, is fed pixels that :func:`decoded` prepared in CPU
tasks, so that a GPU's actor only runs the model and any CPU of the cluster decodes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tastemaker.device import pick_device
from tastemaker.features.extract import EmbeddedBatch, ImageInput, draft_side, extract, prepare
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import Preprocess, load_extractor, load_preprocess
from tastemaker.features.registry import resolve
from tastemaker.model import TasteModel, read_model
from tastemaker.progress import Progress, no_progress

Columns = dict[str, np.ndarray]  # one batch of rows, as Ray Data's numpy batches are


@dataclass(frozen=True)
class ScoredBatch:
    indices: list[int]  # positions in the input
    scores: np.ndarray  # normalised model scores (mean 0, sd 1 over its training images)
    uncertainties: np.ndarray  # each score's standard deviation, same units; NaN if none
    failures: list[tuple[int, str]] = field(default_factory=list)


NO_SCORE = "the model gives it no finite score (NaN or infinite)"


def layer_choice(model: TasteModel) -> LayerChoice:
    return LayerChoice(tuple(model.meta.layers), model.meta.layer_mode)


def score_batches(
    model: TasteModel,
    images: Sequence[ImageInput],
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> Iterator[ScoredBatch]:
    """Scores of ``images`` (paths or PIL images) and their uncertainties, batch by batch.
    The backbone runs where the model is (ComfyUI moves the model to its device)."""
    extractor = load_extractor(model.meta.extractor, str(model.device))
    for batch in extract(extractor, images, layer_choice(model), batch_size, progress=progress):
        yield scored_batch(model, batch)


def scored_batch(model: TasteModel, batch: EmbeddedBatch) -> ScoredBatch:
    """A batch of embeddings scored; a score that is not finite is a failure."""
    if batch.indices:
        scores, spread = model.scores_and_uncertainties(batch.vectors)
    else:
        scores = spread = np.zeros(0, np.float32)
    finite = np.isfinite(scores)
    return ScoredBatch(
        [i for i, ok in zip(batch.indices, finite.tolist(), strict=True) if ok],
        scores[finite],
        spread[finite],
        batch.failures + [(i, NO_SCORE) for i in np.array(batch.indices)[~finite].tolist()],
    )


@dataclass(frozen=True)
class Job:
    """What a run computes: scores by the model file ``model`` (its extractor and layers
    are the model's), or, without one, embeddings; :meth:`identity` is what an output
    folder records, so that a rerun adds to it only the same job's rows."""

    extractor: str
    choice: LayerChoice
    model: Path | None = None
    model_sha256: str | None = None
    uncertainty: bool = False  # whether the model gives each score one

    @classmethod
    def scoring(cls, model: Path) -> Job:
        taste = read_model(model, "cpu")
        with open(model, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        return cls(taste.meta.extractor, layer_choice(taste), model, digest, taste.has_uncertainty)

    @classmethod
    def embedding(cls, extractor: str, choice: LayerChoice) -> Job:
        resolve(extractor).check(choice)  # a bad name or layer fails before any work
        return cls(extractor, choice)

    @property
    def kind(self) -> str:
        return "scores" if self.model else "embeddings"

    def identity(self) -> dict[str, object]:
        found: dict[str, object] = {
            "kind": self.kind,
            "extractor": self.extractor,
            "layers": list(self.choice.layers),
            "layer_mode": self.choice.mode,
        }
        if self.model:
            found |= {
                "model": self.model.name,
                "model_sha256": self.model_sha256,
                "uncertainty": self.uncertainty,
            }
        return found


class BatchFunction:
    """Scores (``path``, ``score``, ``uncertainty``) or embeddings (``path``,
    ``embedding``) of a batch of paths, with ``problem`` saying why an image has none
    (empty where it has one). Decoding runs in ``workers`` processes (0: in this one)."""

    def __init__(
        self,
        job: Job,
        device: str | None = None,
        workers: int | None = 0,
        batch_size: int | None = None,
    ) -> None:
        self.job = job
        self.workers = workers
        self.batch_size = batch_size
        where = str(pick_device(device))  # fp16 on a GPU, float32 on the CPU (the loader's)
        self.model = read_model(job.model, where) if job.model else None
        self.extractor = load_extractor(job.extractor, where)
        self._dim: int | None = None

    def __call__(self, batch: Columns) -> Columns:
        """One Ray Data batch in, its paths' rows (see :meth:`rows`) out: a batch of
        ``path`` only is decoded here, one as :func:`decoded` gives it is not."""
        if "pixels" not in batch:
            parts = list(self.rows(batch["path"].tolist()))
            return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        problems = batch["problem"].tolist()
        good = [i for i, problem in enumerate(problems) if not problem]
        pixels = torch.from_numpy(np.ascontiguousarray(batch["pixels"][good]))
        vectors = self.extractor.embed(pixels, self.job.choice) if good else np.zeros((0, 0), "f4")
        failures = [(i, problem) for i, problem in enumerate(problems) if problem]
        return self._columns(batch["path"].tolist(), EmbeddedBatch(good, vectors, failures))

    def rows(self, paths: Sequence[str]) -> Iterator[Columns]:
        """Every path's row, batch by batch; a batch has at least one row."""
        if not paths:
            yield self._columns(paths, EmbeddedBatch([], np.zeros((0, 0), np.float32)))
            return
        files = [Path(p) for p in paths]
        for batch in extract(self.extractor, files, self.job.choice, self.batch_size, self.workers):
            yield self._columns(paths, batch)

    def _columns(self, paths: Sequence[str], batch: EmbeddedBatch) -> Columns:
        if self.model is None:
            order = batch.indices + [i for i, _ in batch.failures]
            width = batch.vectors.shape[1] if batch.indices else self.dim()
            vectors = np.zeros((len(order), width), np.float32)
            vectors[: len(batch.indices)] = batch.vectors
            values: Columns = {"embedding": vectors}
            problems = [p for _, p in batch.failures]
        else:
            scored = scored_batch(self.model, batch)
            order = scored.indices + [i for i, _ in scored.failures]
            missing = np.full(len(scored.failures), np.nan)
            values = {
                "score": np.concatenate([scored.scores.astype(np.float64), missing]),
                "uncertainty": np.concatenate([scored.uncertainties.astype(np.float64), missing]),
            }
            problems = [p for _, p in scored.failures]
        return {
            "path": np.array([paths[i] for i in order], dtype=object),
            **values,
            "problem": np.array([""] * (len(order) - len(problems)) + problems, dtype=object),
        }

    def dim(self) -> int:
        """The embedding's size, for a batch none of whose images could be read."""
        if self._dim is None:
            pixels = torch.from_numpy(np.asarray(_blank(self.extractor.preprocess))[None])
            self._dim = int(self.extractor.embed(pixels, self.job.choice).shape[1])
        return self._dim


def decoded(batch: Columns, job: Job) -> Columns:
    """Ray Data's decoding stage, in a CPU task: each ``path`` of a batch decoded and
    preprocessed for the job's extractor (its weights not loaded) as ``pixels``, a row
    of zeros where ``problem`` says why it cannot be (empty where it can)."""
    preprocess, side = load_preprocess(job.extractor)
    prepared = [prepare(Path(p), preprocess, draft_side(side)) for p in batch["path"].tolist()]
    first = next((x for x, _ in prepared if x is not None), None)
    shape = (first if first is not None else _blank(preprocess)).shape
    pixels = np.zeros((len(prepared), *shape), np.float32)
    for row, (x, _) in zip(pixels, prepared, strict=True):
        if x is not None:
            row[...] = x
    problems = np.array([problem or "" for _, problem in prepared], dtype=object)
    return {"path": batch["path"], "pixels": pixels, "problem": problems}


def _blank(preprocess: Preprocess) -> np.ndarray:
    """What ``preprocess`` makes of any image: its pixels' shape, for rows without one."""
    return preprocess(Image.new("RGB", (8, 8)))

"""Scoring images with a model: a stream of batches (images in, scores out), so memory
stays flat however many images there are, and the same batch function can run in one
process or as a stage of a distributed engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from tastemaker.errors import TastemakerError
from tastemaker.features.extract import ImageInput, extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor
from tastemaker.model import TasteModel, load_model
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.library import Library
from tastemaker.workflows.embeddings import library_embeddings
from tastemaker.workflows.scores_file import safe_cell


@dataclass(frozen=True)
class ScoredBatch:
    indices: list[int]  # positions in the input
    scores: np.ndarray  # normalised model scores (mean 0, sd 1 over its training images)
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
    """Scores of ``images`` (paths or PIL images), batch by batch."""
    extractor = load_extractor(model.meta.extractor)
    for batch in extract(extractor, images, layer_choice(model), batch_size, progress=progress):
        scores = model.score_embeddings(batch.vectors) if batch.indices else np.zeros(0, np.float32)
        finite = np.isfinite(scores)
        yield ScoredBatch(
            [i for i, ok in zip(batch.indices, finite.tolist(), strict=True) if ok],
            scores[finite],
            batch.failures + [(i, NO_SCORE) for i in np.array(batch.indices)[~finite].tolist()],
        )


@dataclass(frozen=True)
class Scored:
    scores: list[float | None]  # one per input, None where the image could not be read
    failures: list[tuple[int, str]]


def score_images(
    model: TasteModel,
    images: Sequence[Path | Image.Image],
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> Scored:
    """Every image's score, in input order."""
    scores: list[float | None] = [None] * len(images)
    failures: list[tuple[int, str]] = []
    for batch in score_batches(model, images, progress, batch_size):
        for i, s in zip(batch.indices, batch.scores.tolist(), strict=True):
            scores[i] = s
        failures += batch.failures
    return Scored(scores, failures)


_Item = TypeVar("_Item")  # a path, or a position in a list of images


def ranked(
    paths: Sequence[_Item], scored: Scored, top: int | None = None, minimum: float | None = None
) -> list[tuple[_Item, float]]:
    """(path, score) best first, keeping the ``top`` best and those at or above ``minimum``."""
    rows = sorted(
        ((p, s) for p, s in zip(paths, scored.scores, strict=True) if s is not None),
        key=lambda row: -row[1],
    )
    if minimum is not None:
        rows = [row for row in rows if row[1] >= minimum]
    return rows[:top] if top is not None else rows


def score_records(
    rows: list[tuple[Path, float]], probs: list[float] | None = None
) -> list[dict[str, object]]:
    """``{"path", "score"[, "prob_prefer"]}`` per ranked image."""
    records: list[dict[str, object]] = [{"path": str(p), "score": s} for p, s in rows]
    for record, p in zip(records, probs or [], strict=False):
        record["prob_prefer"] = p
    return records


def write_scores(
    rows: list[tuple[Path, float]], out: Path, probs: list[float] | None = None
) -> None:
    """CSV (``path,score[,prob_prefer]``; a path that would start a spreadsheet formula
    gets a ``'`` before it) or JSON (a list of records), by the suffix."""
    import csv
    import json

    records = score_records(rows, probs)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(records, indent=1))
        return
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]) if records else ["path", "score"])
        writer.writeheader()
        writer.writerows({**r, "path": safe_cell(str(r["path"]))} for r in records)


def copy_best(rows: list[tuple[Path, float]], dest: Path, link: bool = False) -> list[Path]:
    """Copy (or symlink) the ranked images into ``dest`` as ``0001_name.ext``, best first;
    the originals are never moved or changed, and no file is overwritten."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    targets = [dest / f"{rank:04d}_{path.name}" for rank, (path, _) in enumerate(rows, 1)]
    taken = [t for t in targets if t.exists() or t.is_symlink()]
    if taken:
        raise TastemakerError(f"{taken[0]} already exists; give an empty or new folder")
    made = []
    for target, (path, _) in zip(targets, rows, strict=True):
        if link:
            target.symlink_to(path.resolve())
        else:
            shutil.copy2(path, target)
        made.append(target)
    return made


@dataclass(frozen=True)
class LibraryScores:
    scores: dict[int, float]  # by image id
    failures: list[tuple[str, str]]


def library_model_scores(
    library: Library, model: TasteModel, progress: Progress = no_progress
) -> LibraryScores:
    """The model's score for every present image of a library, from its cached embeddings
    (extracting only images not embedded yet); an image it gives no finite score is a
    failure, as an unreadable one is."""
    embedded = library_embeddings(library, model.meta.extractor, layer_choice(model), progress)
    scores = model.score_embeddings(embedded.x).tolist()
    ids = embedded.image_ids.tolist()
    unscored = [i for i, s in zip(ids, scores, strict=True) if not np.isfinite(s)]
    paths = {im.id: im.path for im in library.store.images("present")} if unscored else {}
    return LibraryScores(
        {i: float(s) for i, s in zip(ids, scores, strict=True) if np.isfinite(s)},
        embedded.failures + [(paths[i], NO_SCORE) for i in unscored],
    )


@dataclass(frozen=True)
class ModelInTheLoop:
    path: Path
    scored: LibraryScores


def model_in_the_loop(
    library: Library, path: Path | None, progress: Progress = no_progress
) -> ModelInTheLoop | None:
    """Every image's score by the model consulted while rating: the one at ``path``,
    else the library's newest; None when the library has none (rating goes on without)."""
    if path is None:
        models = library.store.models()
        if not models:
            return None
        path = Path(models[-1].path)
    return ModelInTheLoop(path, library_model_scores(library, load_model(path), progress))

"""Scoring images with a model: a stream of batches (images in, scores out), so memory
stays flat however many images there are, and the same batch function can run in one
process or as a stage of a distributed engine."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import numpy as np
import torch
from PIL import Image

from tastemaker.engines.batch import NO_SCORE, layer_choice, score_batches
from tastemaker.errors import TastemakerError
from tastemaker.model import TasteModel, read_model
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.decode import to_8_bit
from tastemaker.storage.library import Library, hash_files
from tastemaker.storage.store import DEFAULT_PROFILE
from tastemaker.workflows.embeddings import CHUNK, cached_embedding_chunks, embed_missing
from tastemaker.workflows.models import library_model, resolve_model_path
from tastemaker.workflows.scores_file import file_format, safe_cell

# what the Python API and ComfyUI can score: paths, PIL images, numpy arrays, or torch
# tensors in ComfyUI's [B, H, W, C] float 0..1 layout
ImageLike = str | os.PathLike[str] | Image.Image | np.ndarray | torch.Tensor


def to_images(images: ImageLike | Iterable[ImageLike]) -> list[Path | Image.Image]:
    """Paths and PIL images from any of the accepted forms (a tensor or array with a
    batch axis gives one image per row)."""
    if isinstance(images, (str, os.PathLike, Image.Image)) or is_batch(images):
        images = [images]  # type: ignore[list-item]
    out: list[Path | Image.Image] = []
    for item in images:  # type: ignore[union-attr]
        if isinstance(item, (str, os.PathLike)):
            out.append(Path(item))
        elif isinstance(item, Image.Image):
            out.append(item)
        elif isinstance(item, (np.ndarray, torch.Tensor)):
            out += _arrays_to_images(item)
        else:
            raise TastemakerError(
                f"Cannot score a {type(item).__name__}: give paths, PIL "
                "images, numpy arrays or torch tensors"
            )
    return out


def is_batch(value: object) -> bool:
    """An array or tensor: one image, or a batch of them (never a list of images)."""
    return isinstance(value, (np.ndarray, torch.Tensor))


def _arrays_to_images(array: np.ndarray | torch.Tensor) -> list[Image.Image]:
    """``[H, W, C]`` or ``[B, H, W, C]``; floats are taken as 0..1 (ComfyUI's IMAGE),
    integers as 0..255, 16-bit ones as 0..65535 (a scan's), wider ones as either by
    their values, as files are."""
    data = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array
    if data.ndim == 3:
        data = data[None]
    if data.ndim != 4 or data.shape[-1] not in (1, 3, 4):
        raise TastemakerError(
            f"Expected images as [H, W, C] or [B, H, W, C] with 1, 3 or 4 channels, "
            f"not an array of shape {tuple(data.shape)}"
        )
    if np.issubdtype(data.dtype, np.floating):
        data = np.clip(np.nan_to_num(data) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif data.dtype != np.uint8:  # each image by its own range; 16-bit by its full one
        top = 65535 if data.dtype == np.uint16 else None
        data = np.stack([to_8_bit(frame, top) for frame in data])
    return [
        Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).convert("RGB")
        for frame in data
    ]


@dataclass(frozen=True)
class Scored:
    scores: list[float | None]  # one per input, None where the image could not be read
    uncertainties: list[float]  # one per input, NaN where there is none
    failures: list[tuple[int, str]]


def score_images(
    model: TasteModel,
    images: Sequence[Path | Image.Image],
    progress: Progress = no_progress,
    batch_size: int | None = None,
) -> Scored:
    """Every image's score and its uncertainty, in input order. Files go through
    :func:`score_files`, so an image a library has embedded already is not embedded
    again; images in memory are extracted."""
    scores: list[float | None] = [None] * len(images)
    spread = [math.nan] * len(images)
    failures: list[tuple[int, str]] = []
    paths = [image for image in images if isinstance(image, Path)]
    files = [i for i, image in enumerate(images) if isinstance(image, Path)]
    if files:
        scored = score_files(model, paths, progress).scored
        for i, s, u in zip(files, scored.scores, scored.uncertainties, strict=True):
            scores[i], spread[i] = s, u
        failures += [(files[j], problem) for j, problem in scored.failures]
    held = [i for i, image in enumerate(images) if not isinstance(image, Path)]
    if held:
        for batch in score_batches(model, [images[i] for i in held], progress, batch_size):
            for j, s, u in zip(
                batch.indices, batch.scores.tolist(), batch.uncertainties.tolist(), strict=True
            ):
                scores[held[j]], spread[held[j]] = s, u
            failures += [(held[j], problem) for j, problem in batch.failures]
    return Scored(scores, spread, sorted(failures))


@dataclass(frozen=True)
class ScoredFiles:
    scored: Scored  # one per file given, in order
    reused: int  # distinct images whose embedding a library had computed already
    extracted: int  # distinct images embedded now


def score_files(
    model: TasteModel, files: Sequence[Path], progress: Progress = no_progress
) -> ScoredFiles:
    """Every file's score and uncertainty, in order. Each content is embedded once, so
    copies of an image get the very same score, and not at all where a library holding
    the file has its embedding already (matched by content hash, as the library does)."""
    digests = hash_files(files, progress)
    first: dict[str, int] = {}  # each content's first file
    for i, d in enumerate(digests):
        if isinstance(d, str):
            first.setdefault(d, i)
    results: dict[str, tuple[float, float] | str] = {}  # (score, uncertainty), or a problem
    extractor, choice = model.meta.extractor, layer_choice(model)
    for hashes, vectors in cached_embedding_chunks(files, list(first), extractor, choice):
        scores, spread = model.scores_and_uncertainties(vectors)
        for d, s, u in zip(hashes, scores.tolist(), spread.tolist(), strict=True):
            results[d] = (s, u) if math.isfinite(s) else NO_SCORE
    reused = len(results)
    todo = [d for d in first if d not in results]
    if todo:
        for batch in score_batches(model, [files[first[d]] for d in todo], progress):
            for i, s, u in zip(
                batch.indices, batch.scores.tolist(), batch.uncertainties.tolist(), strict=True
            ):
                results[todo[i]] = (s, u)
            results.update((todo[i], problem) for i, problem in batch.failures)
    scored = Scored([None] * len(files), [math.nan] * len(files), [])
    for i, d in enumerate(digests):
        result = results[d] if isinstance(d, str) else f"cannot be read ({d.strerror or d})"
        if isinstance(result, str):
            scored.failures.append((i, result))
        else:
            scored.scores[i], scored.uncertainties[i] = result
    extracted = sum(1 for d in todo if not isinstance(results[d], str))
    return ScoredFiles(scored, reused, extracted)


class TasteScorer:
    """A loaded model: ``score(images)`` gives one float per image on the model's
    normalised scale (mean 0, sd 1 over its training images); ``score(images,
    uncertainty=True)`` gives each one's uncertainty too."""

    def __init__(self, model: TasteModel, source: Path) -> None:
        self.model = model
        self.source = source

    @property
    def metadata(self) -> dict[str, Any]:
        return asdict(self.model.meta)

    @property
    def has_uncertainty(self) -> bool:
        """Whether the model gives each score an uncertainty (a kernel model does)."""
        return self.model.has_uncertainty

    @overload
    def score(
        self, images: ImageLike | Iterable[ImageLike], uncertainty: Literal[False] = False
    ) -> list[float]: ...

    @overload
    def score(
        self, images: ImageLike | Iterable[ImageLike], uncertainty: Literal[True]
    ) -> tuple[list[float], list[float]]: ...

    def score(
        self, images: ImageLike | Iterable[ImageLike], uncertainty: bool = False
    ) -> list[float] | tuple[list[float], list[float]]:
        """One score per image, in order; an unreadable image is an error naming it.
        With ``uncertainty=True``, ``(scores, uncertainties)`` (as scikit-learn's
        ``predict(X, return_std=True)``): each score's standard deviation, in the same
        units, large for an image unlike any the model learnt from; NaN for a model
        without one (see :attr:`has_uncertainty`)."""
        items = to_images(images)
        result = score_images(self.model, items) if items else Scored([], [], [])
        if result.failures:
            i, problem = result.failures[0]
            raise TastemakerError(f"{items[i]}: {problem}")
        scores = [float(s) for s in result.scores if s is not None]
        return (scores, result.uncertainties) if uncertainty else scores

    def prob_prefer(self, a: ImageLike, b: ImageLike) -> float:
        """P(the person prefers ``a`` over ``b``) = sigmoid(c * (sA - sB)), with the scale
        ``c`` fitted on held-out choices when the model was trained."""
        if self.model.meta.calibration is None:  # said before any image is scored
            raise TastemakerError(
                f"{self.source} is not calibrated (retrain it with this tastemaker) "
                "so it gives scores, not probabilities."
            )
        s_a, s_b = self.score([a, b]) if not is_batch(a) else (*self.score(a), *self.score(b))
        return float(self.model.prob_prefer(s_a, s_b))


def load_model(path_or_name: str | os.PathLike[str], profile: str = DEFAULT_PROFILE) -> TasteScorer:
    """The model in a ``.safetensors`` file (or LAION's ``.pth``), or a library folder's
    latest model (of ``profile``); loaded once per process (again only if the file
    changes)."""
    path = resolve_model_path(path_or_name, profile)
    return _load(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> TasteScorer:
    return TasteScorer(read_model(path), path)


_Item = TypeVar("_Item", Path, int)  # a path, or a position in a list of images


def ranked(
    paths: Sequence[_Item], scored: Scored, top: int | None = None, minimum: float | None = None
) -> list[tuple[_Item, float, float]]:
    """(path, score, uncertainty) best first, equal scores in path order (so that the
    same images always list the same way), keeping the ``top`` best and those at or
    above ``minimum``."""
    rows = sorted(
        (
            (p, s, u)
            for p, s, u in zip(paths, scored.scores, scored.uncertainties, strict=True)
            if s is not None
        ),
        key=lambda row: (-row[1], row[0]),
    )
    if minimum is not None:
        rows = [row for row in rows if row[1] >= minimum]
    return rows[:top] if top is not None else rows


def score_records(
    rows: list[tuple[Path, float, float]], probs: list[float] | None = None
) -> list[dict[str, object]]:
    """``{"path", "score"[, "prob_prefer"], "uncertainty"}`` per ranked image, the
    uncertainty last so that readers of the older columns keep working; None (JSON's
    null, an empty CSV cell) for a model without one."""
    records: list[dict[str, object]] = [{"path": str(p), "score": s} for p, s, _ in rows]
    for record, p in zip(records, probs or [], strict=False):
        record["prob_prefer"] = p
    for record, (_, _, u) in zip(records, rows, strict=True):
        record["uncertainty"] = u if math.isfinite(u) else None
    return records


def write_scores(
    rows: list[tuple[Path, float, float]],
    out: Path,
    probs: list[float] | None = None,
    fmt: str | None = None,
) -> None:
    """CSV (``path,score[,prob_prefer],uncertainty``; a path that would start a
    spreadsheet formula gets a ``'`` before it) or JSON (a list of records): ``fmt``, else
    by the suffix."""
    import csv
    import json

    fmt = file_format(out, fmt)
    records = score_records(rows, probs)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(records, indent=1))
        return
    with open(out, "w", newline="") as f:
        fields = list(records[0]) if records else ["path", "score", "uncertainty"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({**r, "path": safe_cell(str(r["path"]))} for r in records)


def copy_best(rows: list[tuple[Path, float, float]], dest: Path, link: bool = False) -> list[Path]:
    """Copy (or symlink) the ranked images into ``dest`` as ``0001_name.ext``, best first;
    the originals are never moved or changed, and no file is overwritten."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    targets = [dest / f"{rank:04d}_{path.name}" for rank, (path, *_) in enumerate(rows, 1)]
    taken = [t for t in targets if t.exists() or t.is_symlink()]
    if taken:
        raise TastemakerError(f"{taken[0]} already exists; give an empty or new folder")
    made = []
    for target, (path, *_) in zip(targets, rows, strict=True):
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
    # by image id, the scored images' uncertainties where asked for and the model has them
    uncertainties: dict[int, float] = field(default_factory=dict)


def library_model_scores(
    library: Library,
    model: TasteModel,
    progress: Progress = no_progress,
    uncertainty: bool = False,
    chunk: int = CHUNK,
) -> LibraryScores:
    """The model's score for every present image of a library: the images not embedded
    yet are extracted (and cached) first, then every embedding is read from the cache and
    scored ``chunk`` at a time, so that memory holds one chunk of embeddings however large
    the library. An image it gives no finite score is a failure, as an unreadable one is.
    Their ``uncertainty`` only when asked for: for a kernel model it costs more than the
    score (anchors² per image, not anchors × d)."""
    extractor, choice = model.meta.extractor, layer_choice(model)
    embedded = embed_missing(library, extractor, choice, progress)
    progress("Scoring the library's images", 0, 0)
    scores: dict[int, float] = {}
    spread: dict[int, float] = {}
    unscored: list[int] = []
    for part in library.store.present_embeddings(extractor, choice.key, chunk):
        if uncertainty:
            values, sds = model.scores_and_uncertainties(part.vectors)
        else:
            values, sds = model.score_embeddings(part.vectors), np.full(len(part.vectors), np.nan)
        for i, s, u in zip(part.image_ids.tolist(), values.tolist(), sds.tolist(), strict=True):
            if not math.isfinite(s):
                unscored.append(i)
                continue
            scores[i] = s
            if math.isfinite(u):
                spread[i] = u
    paths = {im.id: im.path for im in library.store.images("present")} if unscored else {}
    return LibraryScores(
        scores, embedded.failures + [(paths[i], NO_SCORE) for i in unscored], spread
    )


@dataclass(frozen=True)
class ModelInTheLoop:
    path: Path
    scored: LibraryScores


def model_in_the_loop(
    library: Library, path: Path | None, progress: Progress = no_progress
) -> ModelInTheLoop | None:
    """Every image's score (and its uncertainty, for the gallery) by the model consulted
    while rating: the one at ``path`` (a file or a library folder), else the library's
    newest; None when the library has none (rating goes on without)."""
    path = library_model(library, path)
    if path is None:
        return None
    scored = library_model_scores(library, read_model(path), progress, uncertainty=True)
    return ModelInTheLoop(path, scored)

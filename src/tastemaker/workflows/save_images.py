"""Save new images into a library with the model's guess as their starting score, so images
made tonight (in ComfyUI, say) are ready to be A/B rated tomorrow from where the model
thinks they belong.

The starting score is the one ``tastemaker prior`` would give each saved image now (see
:func:`tastemaker.rating.prior.prior_scores`): the model scores of the library's present
images shifted to mean zero, squashed with tanh, scaled to the spread of the compared images'
database scores (0.5 when there are fewer than two). Only the images just saved get it:
every other image keeps its own, and an image whose content was already compared keeps its
comparisons as they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tastemaker.errors import TastemakerError
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.decode import to_rgb
from tastemaker.storage.library import Library, open_library
from tastemaker.storage.store import DEFAULT_PROFILE, check_profile
from tastemaker.workflows.priors import set_starting_scores, starting_scores
from tastemaker.workflows.score import (
    ImageLike,
    TasteScorer,
    library_model_scores,
    load_model,
    to_images,
)


@dataclass(frozen=True)
class SavedImages:
    library: Path  # the library's folder
    paths: list[Path]  # the files written, in input order
    scores: list[float]  # each one's model score (the model's normalised scale)
    priors: list[float | None]  # each one's starting score (Elo scale); None if already compared
    source: str  # the prior source recorded in the library: "model:<model file name>"


def save_to_library(
    folder: str | os.PathLike[str],
    images: ImageLike | Iterable[ImageLike],
    model: TasteScorer | str | os.PathLike[str],
    subfolder: str = "comfyui",
    prefix: str = "tastemaker",
    progress: Progress = no_progress,
    profile: str = DEFAULT_PROFILE,
) -> SavedImages:
    """Write ``images`` as PNGs ``<prefix>_00001.png``, … into ``folder/subfolder`` (created
    if needed; no file is overwritten), add them to the library and give each one never
    compared under ``profile`` the model's starting score there, recorded as
    ``model:<model file name>``."""
    scorer = model if isinstance(model, TasteScorer) else load_model(model)
    source = f"model:{scorer.source.name}"
    check_profile(profile)
    _check_name(prefix, "prefix")
    for part in Path(subfolder).parts:
        _check_name(part, "subfolder")
    pictures = to_images(images)
    root = Path(folder).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with open_library(root, profile=profile) as library:
        target = library.file(subfolder)
        if not pictures:
            return SavedImages(library.root, [], [], [], source)
        target.mkdir(parents=True, exist_ok=True)
        paths = [_write_png(picture, target, prefix) for picture in pictures]
        library.scan(progress)
        files = library.store.files()
        ids = [files[library.relative(p)].image_id for p in paths]
        scores, priors = _give_priors(library, scorer, ids, source, progress)
    return SavedImages(
        library.root,
        paths,
        [scores[i] for i in ids],
        [priors.get(i) for i in ids],
        source,
    )


def _give_priors(
    library: Library, scorer: TasteScorer, ids: list[int], source: str, progress: Progress
) -> tuple[dict[int, float], dict[int, float]]:
    """Model scores of every present image, and the starting scores given to those of
    ``ids`` never compared (by id)."""
    scored = library_model_scores(library, scorer.model, progress)
    missing = [i for i in ids if i not in scored.scores]
    if missing:
        path = library.store.image(missing[0])
        raise TastemakerError(f"{path.path if path else missing[0]}: could not be scored")
    starting = starting_scores(library.store, scored.scores)
    priors = {i: starting[i] for i in ids if i in starting}
    set_starting_scores(library.store, priors, source)
    return scored.scores, priors


def _check_name(name: str, what: str) -> None:
    if not name or name.startswith(".") or "/" in name or "\\" in name or name == "..":
        raise TastemakerError(
            f"{what} {name!r}: give a plain name (not empty, no '/', not starting with '.', "
            "which a library scan skips)"
        )


def _write_png(picture: Path | Image.Image, folder: Path, prefix: str) -> Path:
    """Save one image as the next free ``<prefix>_NNNNN.png`` in ``folder``."""
    image = Image.open(picture) if isinstance(picture, Path) else picture
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+)\.png")
    taken = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    counter = max(taken, default=0) + 1
    while True:
        path = folder / f"{prefix}_{counter:05d}.png"
        try:
            with open(path, "xb") as f:  # never overwrite, even if another save races us
                to_rgb(image).save(f, format="PNG")
            return path
        except FileExistsError:
            counter += 1

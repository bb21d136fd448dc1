"""Star ratings in XMP sidecars, where photo managers (darktable, digiKam, Lightroom,
Capture One) read a person's picks: scores become ``xmp:Rating`` 1-5.

Only the rating changes: an existing sidecar is read, its ``Xmp.xmp.Rating`` set, and
every other field written back as it was; the image files are never opened. The XMP is
read and written by libexiv2 (python-exiv2, whose wheels bundle it), an optional extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tastemaker.errors import TastemakerError
from tastemaker.rating.ranks import rankdata
from tastemaker.storage.library import Library

# darktable and digiKam name a sidecar after the whole file (IMG_0001.CR2.xmp), which
# keeps a RAW and its JPEG apart; Lightroom and Capture One drop the suffix (IMG_0001.xmp)
SIDECAR_STYLES = ("darktable", "lightroom")
STARS = 5


@dataclass(frozen=True)
class XmpReport:
    written: int  # sidecars given a rating
    created: int  # of them, sidecars that did not exist before


def sidecar_path(image: Path, style: str = "darktable") -> Path:
    """Where ``style``'s photo manager looks for ``image``'s XMP sidecar."""
    if style == "darktable":
        return image.with_name(image.name + ".xmp")
    if style == "lightroom":
        return image.with_suffix(".xmp")
    raise TastemakerError(f"No sidecar style {style!r}: use {' or '.join(SIDECAR_STYLES)}")


def parse_thresholds(text: str) -> list[float]:
    """Four ascending scores, comma-separated: the lowest scores of 2, 3, 4 and 5 stars."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != STARS - 1 or not all(map(math.isfinite, values)):
        raise TastemakerError(
            f"Star thresholds {text!r}: give four numbers, the lowest score of 2, 3, 4 "
            "and 5 stars, such as -1,-0.3,0.3,1"
        )
    if values != sorted(values):
        raise TastemakerError(f"Star thresholds {text!r} must be in ascending order")
    return values


def stars(scores: Sequence[float], thresholds: Sequence[float] | None = None) -> list[int]:
    """1-5 stars per score: by the given thresholds, or else by quintiles of ``scores``
    (the best fifth gets 5 stars), so a shoot's picks spread over the whole scale. A
    score's quantile is its mid-rank percentile, so equal scores get equal stars."""
    values = np.asarray(scores, dtype=float)
    if thresholds is None:
        if not len(values):
            return []
        percentiles = (rankdata(values) - 0.5) / len(values)
        return [int(s) for s in 1 + np.floor(percentiles * STARS)]
    return [int(s) for s in 1 + np.searchsorted(np.asarray(thresholds), values, side="right")]


def load_exiv2() -> Any:
    """python-exiv2, imported only when XMP is asked for (it is an optional extra)."""
    try:
        import exiv2
    except ImportError:
        raise TastemakerError(
            "Writing XMP star ratings needs python-exiv2: pip install 'tastemaker[xmp]'"
        ) from None
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)  # its problems come back as exceptions
    return exiv2


def check_sidecars(images: Sequence[Path], style: str) -> list[Path]:
    """The sidecar of each image; refuses two images that would share one (Lightroom
    naming for IMG_1.CR2 and IMG_1.JPG), since either rating would overwrite the other."""
    sidecars = [sidecar_path(image, style) for image in images]
    seen: dict[Path, Path] = {}
    for image, sidecar in zip(images, sidecars, strict=True):
        if sidecar in seen:
            raise TastemakerError(
                f"{seen[sidecar]} and {image} would share the sidecar {sidecar}: "
                "use darktable-style sidecars (IMG_0001.CR2.xmp)"
            )
        seen[sidecar] = image
    return sidecars


def write_star_ratings(
    images: Sequence[Path],
    scores: Sequence[float],
    style: str = "darktable",
    thresholds: Sequence[float] | None = None,
) -> XmpReport:
    """Give each image's sidecar the stars of its score, merging into a sidecar that
    exists (only its rating is replaced) and creating one that does not."""
    exiv2 = load_exiv2()
    sidecars = check_sidecars(images, style)
    created = 0
    for sidecar, n in zip(sidecars, stars(scores, thresholds), strict=True):
        try:
            if sidecar.exists():
                xmp = exiv2.ImageFactory.open(str(sidecar))
                xmp.readMetadata()
            else:
                xmp = exiv2.ImageFactory.create(exiv2.ImageType.xmp, str(sidecar))
                created += 1
            data = xmp.xmpData()
            data["Xmp.xmp.Rating"] = str(n)
            xmp.setXmpData(data)
            xmp.writeMetadata()
        except exiv2.Exiv2Error as e:  # args: (error code, libexiv2's message)
            problem = str(e.args[-1]).lower()
            raise TastemakerError(f"{sidecar}: cannot be written as XMP ({problem})") from None
    return XmpReport(len(sidecars), created)


def export_star_ratings(
    library: Library, style: str = "darktable", thresholds: Sequence[float] | None = None
) -> XmpReport:
    """Star the present images that have been compared (or given a starting score) by
    their Elo scores; an image never compared has no score to judge it by and is left."""
    rated = [r for r in library.store.ratings("present") if r.comparisons + r.prior_comparisons]
    images = [library.root / r.path for r in rated]
    return write_star_ratings(images, [r.elo for r in rated], style, thresholds)

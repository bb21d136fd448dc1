"""An image file as pixels, the one way the rating page's copies, the gallery's thumbnails
and the embeddings all decode it.

Pixel limit (the one policy): tastemaker decodes at most Pillow's own limit of pixels per
image, 2 × ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels), which guards against
decompression bombs; Pillow's warning below it is not an error. The environment variable
``TASTEMAKER_MAX_PIXELS`` sets that limit instead (it sets Pillow's). A JPEG over the limit,
a real panorama say, is decoded at 1/2, 1/4 or 1/8 scale (``draft``) when that brings it
under; any other image over it is refused with a message naming the variable.

Modes: 16-bit and 32-bit greyscale (``I;16``, ``I;16B``, ``I``, ``F``) are scaled to 8 bits,
not clipped (as are deep integer arrays handed to the Python API, :func:`to_8_bit`); every
other mode is converted by Pillow to RGB, or RGBA where it has transparency and the
caller keeps it.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin

from tastemaker.errors import TastemakerError, UnreadableImage

try:  # HEIC/HEIF through the well-kept pillow-heif plugin; AVIF is in Pillow itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but optional at heart
    pass

MAX_PIXELS_ENV = "TASTEMAKER_MAX_PIXELS"
_DEEP_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def pixel_limit() -> int:
    """The most pixels decoded from one image (see the module docstring)."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 2:
            raise TastemakerError(
                f"{MAX_PIXELS_ENV}={value!r}: give a whole number of pixels, e.g. 400000000"
            )
        Image.MAX_IMAGE_PIXELS = int(value) // 2  # Pillow refuses above twice this
    return 2 * (Image.MAX_IMAGE_PIXELS or 0) or 2**62


def open_image(path: Path) -> Image.Image:
    """``path`` opened (header only), or :class:`UnreadableImage` saying why not. An image
    over the pixel limit opens only if it is a JPEG that a reduced scale brings under it."""
    limit = pixel_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        pixels = int(found.group(1)) if found else limit + 1
        try:
            im = JpegImagePlugin.JpegImageFile(path)  # Pillow's check is at Image.open only
        except (OSError, SyntaxError):
            raise UnreadableImage(_over_limit(pixels, limit)) from None
        try:
            _reduction(im, limit)
        except UnreadableImage:
            im.close()
            raise
        return im
    except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError
        raise UnreadableImage(f"cannot be read as an image ({e})") from None


def decode(path: Path, side: int | None = None, alpha: bool = False) -> Image.Image:
    """``path``'s pixels, upright, as 8-bit RGB (RGBA if ``alpha`` and it has transparency);
    a JPEG is decoded at a reduced scale that still covers it fitted in ``side`` × ``side``,
    and at least as reduced as the pixel limit needs. :class:`UnreadableImage` says why
    it cannot be."""
    with open_image(path) as im:
        need = _reduction(im, pixel_limit())
        w, h = im.size
        fit = min(1 / need, side / max(w, h) if side else 1)
        wanted = (max(1, math.ceil(w * fit)), max(1, math.ceil(h * fit)))
        if wanted != im.size:
            im.draft(None, wanted)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                return to_rgb(ImageOps.exif_transpose(im), alpha)
        except Image.DecompressionBombError as e:  # an animation frame over the limit
            raise UnreadableImage(str(e)) from None
        except (OSError, SyntaxError, ValueError) as e:
            raise UnreadableImage(f"cannot be decoded ({e})") from None


def to_rgb(im: Image.Image, alpha: bool = False) -> Image.Image:
    """``im`` as 8-bit RGB, or RGBA when ``alpha`` and it has transparency; deep greyscale
    is scaled to 0..255 over its range (16-bit: its full range), not clipped."""
    if im.mode in _DEEP_GREY or im.mode in ("I", "F"):
        im = _grey8(im)
    transparent = im.mode in _ALPHA_MODES or "transparency" in im.info
    if transparent:
        im = im.convert("RGBA")
    return im if im.mode == ("RGBA" if transparent and alpha else "RGB") else im.convert("RGB")


def _grey8(im: Image.Image) -> Image.Image:
    """8-bit greyscale from a 16-bit (full range 0..65535), 32-bit integer or float image
    (0..255 when its values fit in it, else 0..65535 for integers and 0..1 for floats)."""
    values = np.nan_to_num(np.asarray(im, np.float64))
    top: float | None = _DEEP_GREY.get(im.mode)
    if top is None and im.mode == "F":
        top = 1.0 if float(values.max(initial=0)) <= 1.0 else 255.0
    return Image.fromarray(to_8_bit(values, top))


def to_8_bit(values: np.ndarray, top: float | None = None) -> np.ndarray:
    """Pixel values as 8 bits, 0..``top`` scaled to 0..255 (not clipped); without ``top``,
    0..255 when they fit in it, else 0..65535 (deep integers, as 16-bit scans hold)."""
    if top is None:
        top = 255 if float(values.max(initial=0)) <= 255 else 65535
    scaled = np.asarray(values, np.float64) * (255 / top)
    return np.clip(scaled, 0, 255).round().astype(np.uint8)


def _reduction(im: Image.Image, limit: int) -> int:
    """The JPEG scale divisor (1, 2, 4 or 8) that brings ``im`` under the pixel limit."""
    w, h = im.size
    for k in (1, 2, 4, 8) if im.format == "JPEG" else (1,):
        if -(-w // k) * -(-h // k) <= limit:
            return k
    raise UnreadableImage(_over_limit(w * h, limit))


def _over_limit(pixels: int, limit: int) -> str:
    return (
        f"{pixels:,} pixels, over the {limit:,}-pixel limit that guards against "
        f"decompression bombs; if you trust the file, allow it: {MAX_PIXELS_ENV}={pixels}"
    )

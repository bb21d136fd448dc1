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

RAW files (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2, …) are decoded by LibRaw through rawpy,
the optional ``raw`` extra: the largest preview the camera embedded when it is at least
the size needed (:data:`RAW_PREVIEW_SIDE` when no size is asked), else a half-size
demosaic with the camera's white balance.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin

from tastemaker.errors import TastemakerError, UnreadableImage

if TYPE_CHECKING:
    import rawpy

try:  # HEIC/HEIF through the well-kept pillow-heif plugin; AVIF is in Pillow itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but optional at heart
    pass

MAX_PIXELS_ENV = "TASTEMAKER_MAX_PIXELS"
_DEEP_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
RAW_SUFFIXES = frozenset(
    {".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf"}
    | {".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".mos", ".rwl"}
)
RAW_EXTRA = "decoding RAW files needs the raw extra: pip install 'tastemaker[raw]'"
RAW_PREVIEW_SIDE = 1024  # an embedded preview this long or longer is enough to embed and show
_FLIPS = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.ROTATE_90,
    6: Image.Transpose.ROTATE_270,
}


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
    over the pixel limit opens only if it is a JPEG that a reduced scale brings under it.
    A RAW file is decoded (see the module docstring): there is no cheaper header to read."""
    if is_raw(path):
        return _raw(path, None)
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


def decode(
    path: Path, side: int | None = None, alpha: bool = False, short_side: int | None = None
) -> Image.Image:
    """``path``'s pixels, upright, as 8-bit RGB (RGBA if ``alpha`` and it has transparency);
    a JPEG is decoded at a reduced scale that still covers it fitted in ``side`` × ``side``
    and keeps its shorter side at least ``short_side`` long (either may be None), and at
    least as reduced as the pixel limit needs. :class:`UnreadableImage` says why it cannot
    be."""
    if is_raw(path):
        return to_rgb(_raw(path, side))  # a preview or half size: short_side is no reason
    with open_image(path) as im:
        need = _reduction(im, pixel_limit())
        w, h = im.size
        asked = [s / m for s, m in ((side, max(w, h)), (short_side, min(w, h))) if s]
        fit = min(1 / need, max(asked, default=1))  # the least reduction that meets both
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


def is_raw(path: Path) -> bool:
    """Whether ``path`` is named as a camera's RAW file."""
    return path.suffix.lower() in RAW_SUFFIXES


def raw_supported() -> bool:
    """Whether the ``raw`` extra (rawpy) is installed."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return False
    return True


def _raw(path: Path, side: int | None) -> Image.Image:
    """A RAW file's pixels, upright: its largest embedded preview if that covers ``side``
    (or :data:`RAW_PREVIEW_SIDE`), which is fast and the camera's own rendering, else a
    half-size demosaic, which is enough for any display copy or embedding."""
    try:
        import rawpy
    except ImportError:
        raise UnreadableImage(RAW_EXTRA) from None
    try:
        with rawpy.imread(str(path)) as raw:
            preview = _preview(raw)
            if preview is not None and max(preview.size) >= (side or RAW_PREVIEW_SIDE):
                flip = _FLIPS.get(raw.sizes.flip)
                return preview.transpose(flip) if flip is not None else preview
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            return Image.fromarray(rgb)
    except (rawpy.LibRawError, OSError, ValueError) as e:
        raise UnreadableImage(f"cannot be read as a RAW image ({e})") from None


def _preview(raw: rawpy.RawPy) -> Image.Image | None:
    """The embedded preview (JPEG or bitmap), or None when there is none LibRaw can read."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if isinstance(thumb.data, np.ndarray):  # ThumbFormat.BITMAP
        return Image.fromarray(thumb.data)
    try:
        im = Image.open(io.BytesIO(thumb.data))
        im.load()
    except (OSError, SyntaxError, ValueError):
        return None
    return im


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

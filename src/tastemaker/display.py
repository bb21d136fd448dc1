"""Images as the page shows them: small originals as they are, large or exotic ones
downscaled once into the library's cache (never the 20 MB original over the wire)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PIL import Image, ImageOps

from tastemaker.storage.library import Library
from tastemaker.storage.store import ImageRecord

MAX_SIDE = 2048  # enough for a 4K screen showing two images side by side
MAX_BYTES = 3_000_000
BROWSER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def display_file(library: Library, image: ImageRecord) -> Path:
    """The file to send for ``image``: the original when a browser can show it and it is
    small, otherwise a cached JPEG (PNG when it has transparency) fitted in MAX_SIDE."""
    original = library.file(image.path)
    small = (image.width or MAX_SIDE + 1) <= MAX_SIDE and (image.height or 0) <= MAX_SIDE
    if original.suffix.lower() in BROWSER_SUFFIXES and small and image.bytes <= MAX_BYTES:
        return original
    cache = library.cache_dir / f"display-{MAX_SIDE}"
    for suffix in (".jpg", ".png"):
        cached = cache / f"{image.hash}{suffix}"
        if cached.exists():
            return cached
    with _lock_for(image.hash):
        return _downscale(original, cache, image.hash)


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _downscale(original: Path, cache: Path, digest: str) -> Path:
    for suffix in (".jpg", ".png"):
        if (cache / f"{digest}{suffix}").exists():  # made by another request meanwhile
            return cache / f"{digest}{suffix}"
    cache.mkdir(parents=True, exist_ok=True)
    with Image.open(original) as im:
        im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale, much faster
        im = ImageOps.exif_transpose(im)
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        target = cache / f"{digest}{'.png' if alpha else '.jpg'}"
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        if alpha:
            im.convert("RGBA").save(tmp, "PNG", optimize=False)
        else:
            im.convert("RGB").save(tmp, "JPEG", quality=88)
    os.replace(tmp, target)  # whole file or nothing, even if killed halfway
    return target

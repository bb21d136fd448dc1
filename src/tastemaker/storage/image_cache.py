"""Images as the pages show them: small originals as they are, large or exotic ones
downscaled once into the library's cache (never the 20 MB original over the wire). The
rating page gets them fitted in 2048 px, the gallery's thumbnails in 256 px."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from tastemaker.storage.decode import decode
from tastemaker.storage.library import Library
from tastemaker.storage.store import ImageRecord

MAX_SIDE = 2048  # enough for a 4K screen showing two images side by side
MAX_BYTES = 3_000_000
THUMB_SIDE = 256  # the gallery's tiles
THUMB_BYTES = 200_000
BROWSER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def display_file(library: Library, image: ImageRecord) -> Path:
    """The file to send for ``image``: the original when a browser can show it and it is
    small, otherwise a cached JPEG (PNG when it has transparency) fitted in MAX_SIDE."""
    return fitted_file(library, image, MAX_SIDE, MAX_BYTES, "display")


def thumbnail_file(library: Library, image: ImageRecord, side: int = THUMB_SIDE) -> Path:
    """A small version of ``image`` fitted in ``side`` pixels, cached in ``thumb-<side>``
    (the original itself when it is already that small)."""
    return fitted_file(library, image, side, THUMB_BYTES, "thumb")


def fitted_file(library: Library, image: ImageRecord, side: int, max_bytes: int, kind: str) -> Path:
    """The original when a browser can show it and it fits in ``side`` and ``max_bytes``,
    otherwise a JPEG (PNG when it has transparency) fitted in ``side``, made once into
    the cache folder ``<kind>-<side>``."""
    original = library.file(image.path)
    small = (image.width or side + 1) <= side and (image.height or 0) <= side
    if original.suffix.lower() in BROWSER_SUFFIXES and small and image.bytes <= max_bytes:
        with open(original, "rb"):  # unreadable: an error the route reports, not a cut response
            return original
    cache = library.cache_dir / f"{kind}-{side}"
    for suffix in (".jpg", ".png"):
        cached = cache / f"{image.hash}{suffix}"
        if cached.exists():
            return cached
    with _lock_for(f"{kind}-{side}/{image.hash}"):
        return _downscale(original, cache, image.hash, side)


class DisplayCopies:
    """Makes display copies in one background thread, ahead of the page asking for them:
    downscaling a large photo takes about a second, which the page must not wait for.
    An image that cannot be read is left for the page's request to report."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self._todo: queue.SimpleQueue[ImageRecord | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="display-copies", daemon=True)
        self._thread.start()

    def prepare(self, images: Iterable[ImageRecord]) -> None:
        """Make the display copies of ``images``, in this order, unless made already."""
        for image in images:
            self._todo.put(image)

    def close(self) -> None:
        """Stop after the copy being made; the rest are made when the page asks."""
        self._stop.set()
        self._todo.put(None)  # wakes the thread if it waits for work
        self._thread.join()

    def _run(self) -> None:
        while (image := self._todo.get()) is not None and not self._stop.is_set():
            try:
                display_file(self._library, image)
            except Exception:  # the image route reports it when the page asks
                continue


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _downscale(original: Path, cache: Path, digest: str, side: int) -> Path:
    for suffix in (".jpg", ".png"):
        if (cache / f"{digest}{suffix}").exists():  # made by another request meanwhile
            return cache / f"{digest}{suffix}"
    cache.mkdir(parents=True, exist_ok=True)
    im = decode(original, side, alpha=True)  # JPEG: decoded at a reduced scale, much faster
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    alpha = im.mode == "RGBA"
    target = cache / f"{digest}{'.png' if alpha else '.jpg'}"
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    if alpha:
        im.save(tmp, "PNG", optimize=False)
    else:
        im.save(tmp, "JPEG", quality=88)
    os.replace(tmp, target)  # whole file or nothing, even if killed halfway
    return target

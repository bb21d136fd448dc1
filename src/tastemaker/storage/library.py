"""A library: a folder of images and its store in ``.tastemaker/library.db``.

Images are identified by the SHA-256 of their content, so a renamed or moved file
keeps its history. A rescan hashes only files whose size or mtime changed; files no
longer found are marked missing (their history kept), unreadable ones are reported by
name and never shown.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tastemaker.errors import TastemakerError
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.store import FileRecord, NewImage, Store

try:  # HEIC/HEIF through the well-kept pillow-heif plugin; AVIF is in Pillow itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but optional at heart
    pass

STORE_DIR = ".tastemaker"
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)


@dataclass(frozen=True)
class ScanReport:
    present: int  # images shown for rating
    added: int  # new content found by this scan
    changed: int  # known paths whose file changed
    missing: int  # images whose file is gone (history kept)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative path, problem)


@dataclass(frozen=True)
class _Seen:
    path: str
    bytes: int
    mtime_ns: int


class Library:
    """A folder of images with its store. Open one with :func:`open_library`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.store = Store(self.root / STORE_DIR / "library.db")

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def cache_dir(self) -> Path:
        return self.root / STORE_DIR / "cache"

    def file(self, relative: str) -> Path:
        """The file at a stored relative path, refused if it resolves outside the library."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise TastemakerError(f"{relative}: resolves outside the library {self.root}")
        return path

    def relative(self, path: Path) -> str:
        """A path given by the user as a relative library path, refused if outside."""
        resolved = (self.root / path).resolve() if not path.is_absolute() else path.resolve()
        if not resolved.is_relative_to(self.root):
            raise TastemakerError(f"{path} is outside the library {self.root}")
        return resolved.relative_to(self.root).as_posix()

    def scan(self, progress: Progress = no_progress, workers: int = 4) -> ScanReport:
        """Bring the store up to date with the folder."""
        seen = list(_walk(self.root))
        known = self.store.files()
        changed = [s for s in seen if _is_changed(known.get(s.path), s)]
        hashed: dict[str, tuple[str, _Seen]] = {}
        with ThreadPoolExecutor(workers) as pool:
            for done, (s, digest) in enumerate(
                pool.map(lambda s: (s, _sha256(self.root / s.path)), changed), start=1
            ):
                hashed[s.path] = (digest, s)
                progress("Hashing new images", done, len(changed))
        ids = self.store.image_ids_by_hash(d for d, _ in hashed.values())
        new_hashes = {d: s for d, s in hashed.values() if d not in ids}
        with ThreadPoolExecutor(workers) as pool:
            checked = pool.map(lambda item: _inspect(self.root, *item), new_hashes.items())
            with self.store.atomic():
                for done, image in enumerate(checked, start=1):
                    ids[image.hash] = self.store.add_image(image)
                    progress("Checking new images", done, len(new_hashes))
        records = [FileRecord(s.path, s.bytes, s.mtime_ns, ids[d]) for d, s in hashed.values()]
        present_paths = {s.path for s in seen}
        removed = [p for p in known if p not in present_paths]
        self.store.set_files(records, removed)
        after = self.store.status_counts()
        unreadable = [
            (image.path, image.problem or "unreadable") for image in self.store.images("unreadable")
        ]
        return ScanReport(
            present=after.get("present", 0),
            added=len(new_hashes),
            changed=sum(1 for s in changed if s.path in known),
            missing=after.get("missing", 0),
            unreadable=unreadable,
        )


def open_library(folder: str | os.PathLike[str], scan: bool = False) -> Library:
    """Open (creating its store if needed) the library in ``folder``."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TastemakerError(f"{root}: not a folder (give the folder that holds your images)")
    library = Library(root)
    if scan:
        library.scan()
    return library


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The image files among ``paths``: files as given, folders searched recursively (as a
    library scan does: dot-folders and links leading outside skipped), in a stable order."""
    found: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            root = path.resolve()
            found += sorted(root / seen.path for seen in _walk(root))
        elif path.is_file():
            found.append(path)
        else:
            raise TastemakerError(f"{path}: no such file or folder")
    return found


def _walk(root: Path) -> Iterator[_Seen]:
    """Image files under ``root``: dot-folders (the store among them) and links that lead
    outside the library are skipped."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                continue
            if entry.is_dir():
                stack.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
                st = entry.stat()
                rel = Path(entry.path).relative_to(root).as_posix()
                yield _Seen(rel, st.st_size, st.st_mtime_ns)


def _is_changed(known: FileRecord | None, seen: _Seen) -> bool:
    return known is None or known.bytes != seen.bytes or known.mtime_ns != seen.mtime_ns


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _inspect(root: Path, digest: str, seen: _Seen) -> NewImage:
    """Open the image's header and check its data is all there; a problem is kept, not raised."""
    path = root / seen.path
    width = height = None
    problem = None
    try:
        with Image.open(path) as im:
            width, height = im.size
            im.verify()
        if seen.path.lower().endswith((".jpg", ".jpeg")) and not _jpeg_complete(path):
            problem = "truncated JPEG (no end-of-image marker)"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        problem = f"cannot be read as an image ({e})"
    return NewImage(digest, seen.path, seen.bytes, width, height, problem)


def _jpeg_complete(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 64))
        return b"\xff\xd9" in f.read()

"""A library: a folder of images and its store in ``.tastemaker/library.db`` (or in the
folder given by ``--store`` / ``TASTEMAKER_STORE``, for image folders the user cannot
write to).

Images are identified by the SHA-256 of their content, so a renamed or moved file
keeps its history. A rescan hashes only files whose size or mtime changed; files no
longer found are marked missing (their history kept), unreadable ones are reported by
name and never shown.

A RAW file with a JPEG of the same name beside it (``IMG_0001.CR2`` + ``IMG_0001.JPG``) is
one picture: the JPEG is the image shown, embedded and scored (the photographer's own
rendering, and cheap to decode), and the RAW is passed over, unless the RAW was in the
library first: then it stays the picture, so that no choice made on it is split from the pair.
For the same reason a RAW whose JPEG is deleted (culled photographers keep the RAW) takes
over the JPEG's picture, with its choices, instead of becoming a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tastemaker.errors import SettingError, StoreUnavailable, TastemakerError, UnreadableImage
from tastemaker.progress import Progress, no_progress
from tastemaker.storage.decode import RAW_EXTRA, RAW_SUFFIXES, open_image, raw_supported
from tastemaker.storage.store import (
    DEFAULT_PROFILE,
    SAVED_MARK,
    FileRecord,
    NewImage,
    Store,
    check_profile,
)

STORE_DIR = ".tastemaker"
STORE_ENV = "TASTEMAKER_STORE"  # a store folder for every command, as --store gives one
STORE_HINT = f"keep the store elsewhere with {{setting}} DIR (or {STORE_ENV}=DIR)"
ROOT_SETTING = "library_root"  # the folder a store kept outside it belongs to
TOLD_SETTING = "unreadable_told"  # the unreadable files already named to the person
IMAGE_SUFFIXES = (
    frozenset(
        {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
        | {".avif"}
    )
    | RAW_SUFFIXES
)
_PAIRED_JPEG = (".jpg", ".jpeg")


@dataclass(frozen=True)
class ScanReport:
    present: int  # images shown for rating
    added: int  # new readable images found by this scan
    changed: int  # known paths whose file changed
    missing: int  # images whose file is gone (history kept)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative path, problem)
    copies: int = 0  # files with the same content as another file: one image, counted once


@dataclass(frozen=True)
class _Seen:
    path: str
    bytes: int
    mtime_ns: int


class Library:
    """A folder of images with its store. Open one with :func:`open_library`."""

    def __init__(
        self,
        root: Path,
        store: str | os.PathLike[str] | None = None,
        create: bool = True,
        profile: str = DEFAULT_PROFILE,
    ) -> None:
        self.root = root.resolve()
        self.store_dir = store_dir(self.root, store)
        check_profile(profile)  # before a store folder is made for it
        self.store = _open_store(self.root, self.store_dir, create, profile)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def cache_dir(self) -> Path:
        return self.store_dir / "cache"

    @property
    def profile(self) -> str:
        """Whose choices, ratings and models this library object reads and writes."""
        return self.store.profile

    @property
    def models_dir(self) -> Path:
        """Where this profile's models are saved: the default profile's in ``models``, as
        before profiles, another's in a folder of its own in there."""
        models = self.store_dir / "models"
        return models if self.profile == DEFAULT_PROFILE else models / self.profile

    def check_output(
        self, path: Path, folder: bool = False, suffixes: Collection[str] = ()
    ) -> Path:
        """:func:`check_output` with this library's store refused too, wherever it is."""
        return check_output(path, folder, suffixes, stores=[self.store_dir])

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
        skipped: list[tuple[str, str]] = []
        known = self.store.files()
        seen = _one_per_picture(list(_walk(self.root, skipped)), known, skipped)
        changed = [s for s in seen if _is_changed(known.get(s.path), s)]
        hashed: dict[str, tuple[str, _Seen]] = {}
        digests = hash_files(
            [self.root / s.path for s in changed], progress, workers, "Hashing new images"
        )
        for s, digest in zip(changed, digests, strict=True):
            if isinstance(digest, OSError):
                skipped.append((s.path, f"cannot be read ({digest.strerror or digest})"))
            else:
                hashed[s.path] = (digest, s)
        ids = self.store.image_ids_by_hash(d for d, _ in hashed.values())
        heirs = _heirs(seen, known)
        for digest, s in hashed.values():
            if digest not in ids and s.path in heirs:
                ids[digest] = heirs[s.path]
        new_hashes = {d: s for d, s in hashed.values() if d not in ids}
        with ThreadPoolExecutor(workers) as pool:
            checked = pool.map(lambda item: _inspect(self.root, *item), new_hashes.items())
            added: list[NewImage] = []
            with self.store.atomic():
                for done, image in enumerate(checked, start=1):
                    ids[image.hash] = self.store.add_image(image)
                    added.append(image)
                    progress("Checking new images", done, len(new_hashes))
        records = [FileRecord(s.path, s.bytes, s.mtime_ns, ids[d]) for d, s in hashed.values()]
        present_paths = {s.path for s in seen}
        removed = [p for p in known if p not in present_paths]
        self.store.set_files(records, removed)
        after = self.store.status_counts()
        in_folder = {f.image_id for f in self.store.files().values()}
        unreadable = skipped + [
            (image.path, image.problem or "unreadable")
            for image in self.store.images("unreadable")
            if image.id in in_folder  # not a file since deleted
        ]
        return ScanReport(
            present=after.get("present", 0),
            added=sum(1 for image in added if not image.problem),
            changed=sum(1 for s in changed if s.path in known),
            missing=after.get("missing", 0),
            unreadable=unreadable,
            copies=self.store.copies(),
        )

    def untold(self, problems: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (path, problem) pairs among ``problems`` (a scan's unreadable files) not
        told before, remembering them all as told: each is said once, not on every
        command. A file that is fixed is forgotten, so it is told again if it breaks."""
        told = json.loads(self.store.setting(TOLD_SETTING) or "{}")
        new = [(path, problem) for path, problem in problems if told.get(path) != problem]
        if dict(problems) != told:
            self.store.set_setting(TOLD_SETTING, json.dumps(dict(problems), sort_keys=True))
        return new


def store_dir(root: Path, store: str | os.PathLike[str] | None = None) -> Path:
    """Where the store of the library in ``root`` lives: ``store`` if given, else
    ``$TASTEMAKER_STORE``, else ``root/.tastemaker``."""
    given = store or os.environ.get(STORE_ENV)
    return Path(given).expanduser().resolve() if given else root.resolve() / STORE_DIR


def open_library(
    folder: str | os.PathLike[str],
    scan: bool = False,
    store: str | os.PathLike[str] | None = None,
    create: bool = True,
    profile: str = DEFAULT_PROFILE,
) -> Library:
    """Open the library in ``folder`` for ``profile``, creating its store and the profile
    if needed (unless ``create`` is False: a command that only reads refuses a folder that
    is no library yet, and a profile never rated); its store is kept in ``store`` (a
    folder) if given, else ``$TASTEMAKER_STORE``, else ``folder/.tastemaker``."""
    if not str(folder).strip():
        raise TastemakerError("No folder given (an empty name); give the folder of your images")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TastemakerError(f"{root}: not a folder (give the folder that holds your images)")
    library = Library(root, store, create, profile)
    if scan:
        library.scan()
    return library


def _open_store(
    root: Path, folder: Path, create: bool = True, profile: str = DEFAULT_PROFILE
) -> Store:
    """The store in ``folder``, refused in one line if it cannot be written there, if it
    belongs to another library (a store kept outside its folder records which), or if
    there is none yet and ``create`` is False."""
    if folder.exists() and not folder.is_dir():
        raise SettingError(
            "store", f"{folder}: exists but is not a folder; move it away, or {STORE_HINT}"
        )
    saved = sorted(folder.glob(f"*{SAVED_MARK}*.db"))
    if saved:
        raise TastemakerError(
            f"{saved[-1]}: saved by a command whose store was deleted or replaced while it "
            f"ran; put it back as {folder / 'library.db'}, or move it away, to go on"
        )
    if not create and not (folder / "library.db").is_file():
        elsewhere = f" {{setting}} {folder}" if folder != root / STORE_DIR else ""
        if not elsewhere and not os.access(root, os.W_OK):
            elsewhere = " {setting} DIR (the folder is read-only: keep the store elsewhere)"
        raise SettingError(
            "store",
            f"{root}: no tastemaker library here yet; start one with: tastemaker scan "
            f"{root}{elsewhere}",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        store = Store(folder / "library.db", profile, create_profile=create)
    except (OSError, StoreUnavailable) as e:
        reason = e.strerror if isinstance(e, OSError) else e.__cause__
        raise SettingError(
            "store",
            f"{root}: cannot write the library's store in {folder} ({reason}); {STORE_HINT}",
        ) from None
    if folder != root / STORE_DIR:
        owner = store.setting(ROOT_SETTING)
        if owner is None:
            store.set_setting(ROOT_SETTING, str(root))
        elif owner != str(root):
            store.close()
            raise SettingError(
                "store",
                f"{folder} is the store of the library {owner}, not of {root}; give that "
                "folder, or another {setting}",
            )
    return store


def check_output(
    path: Path, folder: bool = False, suffixes: Collection[str] = (), stores: Iterable[Path] = ()
) -> Path:
    """Refuse, before any long work, an output path that lies inside a library's store
    (any ``.tastemaker`` folder, ``$TASTEMAKER_STORE`` or ``stores``; links and ``..``
    resolved), or that plainly cannot be written: a name too long, a file where a folder
    is wanted or the reverse, a suffix not in ``suffixes``. Returns the path as given."""
    resolved = path.expanduser().resolve()
    env = os.environ.get(STORE_ENV)
    for store in [*stores, *([Path(env)] if env else [])]:
        if resolved.is_relative_to(store.expanduser().resolve()):
            raise TastemakerError(
                f"{path}: inside the library's store {store}, where the choices are kept; "
                "write it somewhere else"
            )
    if STORE_DIR in resolved.parts:
        raise TastemakerError(
            f"{path}: inside a library's store ({STORE_DIR}), where the choices are kept; "
            "write it somewhere else"
        )
    if suffixes and resolved.suffix.lower() not in suffixes:
        raise TastemakerError(f"{path}: give a file name ending in {', '.join(sorted(suffixes))}")
    existing = next(p for p in [resolved, *resolved.parents] if _exists(p))
    within = existing if existing.is_dir() else existing.parent
    longest = os.pathconf(within, "PC_NAME_MAX")
    for part in resolved.relative_to(existing).parts:
        if len(os.fsencode(part)) > longest:
            raise TastemakerError(
                f"{path}: a name is too long ({len(os.fsencode(part))} bytes, at most {longest})"
            )
    if existing == resolved and existing.is_dir() != folder:
        raise TastemakerError(
            f"{path}: is a folder; give a file name"
            if not folder
            else f"{path}: is a file; give a folder"
        )
    if existing != resolved and not existing.is_dir():
        raise TastemakerError(f"{path}: {existing} is a file, not a folder")
    if not os.access(within, os.W_OK):
        raise TastemakerError(f"{path}: cannot write in {within} (permission denied)")
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, say
        return False


def image_files(paths: Sequence[Path], skipped: list[tuple[str, str]]) -> list[Path]:
    """The image files among ``paths``: files as given, folders searched recursively (as a
    library scan does, adding what it cannot use to ``skipped``), in a stable order."""
    found: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            root = path.resolve()
            problems: list[tuple[str, str]] = []
            walked = _one_per_picture(list(_walk(root, problems)), (), problems)
            found += sorted(root / seen.path for seen in walked)
            skipped += [(_printable(str(path / p)), problem) for p, problem in problems]
        elif path.is_file():
            found.append(path)
        else:
            raise TastemakerError(f"{path}: no such file or folder")
    return found


def _walk(root: Path, skipped: list[tuple[str, str]]) -> Iterator[_Seen]:
    """Image files under ``root``. Dot-folders (the store among them) and links that lead
    outside the library are passed over; a symlink loop, a name that is not UTF-8 (the store
    keeps names as text) or a folder or file that cannot be read is added to ``skipped`` as
    (relative path, reason)."""
    stack = [(root, root, frozenset({root}))]  # a folder, its real path, its parents' too
    while stack:
        folder, folder_real, chain = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            skipped.append((_relative(root, folder), f"folder cannot be read ({e.strerror})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                link = entry.is_symlink()
                real = path.resolve(strict=True) if link else folder_real / entry.name
            except FileNotFoundError:  # a dangling link: no image there
                continue
            except (OSError, RuntimeError):  # a loop; Python before 3.13 says RuntimeError
                skipped.append((_relative(root, path), "symlink loop (the link leads to itself)"))
                continue
            is_dir = entry.is_dir()
            if link and not real.is_relative_to(root):
                continue
            if not (is_dir or path.suffix.lower() in IMAGE_SUFFIXES):
                continue
            if not _is_utf8(entry.name):
                skipped.append((_relative(root, path), "name is not valid UTF-8; rename it"))
            elif is_dir and real in chain:
                where = _relative(root, real)
                skipped.append((_relative(root, path), f"symlink loop (leads back to {where})"))
            elif is_dir:
                stack.append((path, real, chain | {real}))
            elif entry.is_file():
                try:
                    st = entry.stat()
                except OSError as e:
                    skipped.append((_relative(root, path), f"cannot be read ({e.strerror})"))
                    continue
                yield _Seen(_relative(root, path), st.st_size, st.st_mtime_ns)


def _one_per_picture(
    seen: list[_Seen], known: Collection[str], skipped: list[tuple[str, str]]
) -> list[_Seen]:
    """``seen`` with each RAW+JPEG pair counted once (see the module docstring: the JPEG,
    unless only the RAW is in ``known``, the library's paths), and without RAW files when
    the ``raw`` extra is missing: those are added to ``skipped`` as one entry, named by
    their suffixes, so that the person is told once, not once per file."""
    by_stem: dict[tuple[str, str], list[_Seen]] = {}
    for s in seen:
        by_stem.setdefault(_stem(s.path), []).append(s)
    passed: set[str] = set()
    for files in by_stem.values():
        raws = [s.path for s in files if _suffix(s.path) in RAW_SUFFIXES]
        jpegs = [s.path for s in files if _suffix(s.path) in _PAIRED_JPEG]
        if raws and jpegs:
            raw_first = any(p in known for p in raws) and not any(p in known for p in jpegs)
            passed.update(jpegs if raw_first else raws)
    kept = [s for s in seen if s.path not in passed]
    if raw_supported():
        return kept
    raws = sorted({_suffix(s.path) for s in kept if _suffix(s.path) in RAW_SUFFIXES})
    if raws:
        skipped.append((f"RAW files ({', '.join(raws)})", RAW_EXTRA))
    return [s for s in kept if _suffix(s.path) not in RAW_SUFFIXES]


def _heirs(seen: list[_Seen], known: dict[str, FileRecord]) -> dict[str, int]:
    """The RAW files newly seen whose paired JPEG the library knew and is gone, each with
    that JPEG's image id: the RAW was passed over for it, so it is the same picture."""
    here = {s.path for s in seen}
    gone = {
        _stem(path): record.image_id
        for path, record in known.items()
        if path not in here and _suffix(path) in _PAIRED_JPEG
    }
    return {
        s.path: gone[_stem(s.path)]
        for s in seen
        if s.path not in known and _suffix(s.path) in RAW_SUFFIXES and _stem(s.path) in gone
    }


def _stem(path: str) -> tuple[str, str]:
    """A file's folder and name without suffix, case folded: what a RAW and its JPEG share."""
    folder, _, name = path.rpartition("/")
    return folder, name.rsplit(".", 1)[0].casefold()


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def _relative(root: Path, path: Path) -> str:
    return _printable(path.relative_to(root).as_posix())


def _printable(name: str) -> str:
    """A file name as text, its undecodable bytes written as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _is_changed(known: FileRecord | None, seen: _Seen) -> bool:
    return known is None or known.bytes != seen.bytes or known.mtime_ns != seen.mtime_ns


def hash_files(
    paths: Sequence[Path],
    progress: Progress = no_progress,
    workers: int = 4,
    label: str = "Hashing images",
) -> list[str | OSError]:
    """Each file's content hash, the library's identity of an image (or the error that kept
    it from being read)."""
    digests: list[str | OSError] = []
    with ThreadPoolExecutor(workers) as pool:
        for digest in pool.map(_sha256, paths):
            digests.append(digest)
            progress(label, len(digests), len(paths))
    return digests


def libraries_holding(paths: Iterable[Path]) -> list[Path]:
    """The folders of the libraries that hold any of ``paths``, their stores kept in them
    (as by default): each path's nearest folder with a ``.tastemaker/library.db``."""
    roots: dict[Path, None] = {}
    for folder in {path.resolve().parent for path in paths}:
        for candidate in (folder, *folder.parents):
            if (candidate / STORE_DIR / "library.db").is_file():
                roots[candidate] = None
                break
    return sorted(roots)


def _sha256(path: Path) -> str | OSError:
    """The file's SHA-256, or the error that kept it from being read."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        return e


def _inspect(root: Path, digest: str, seen: _Seen) -> NewImage:
    """Open the image's header and check its data is all there; a problem is kept, not raised."""
    path = root / seen.path
    width = height = None
    problem = None
    try:
        with open_image(path) as im:
            width, height = im.size
            im.verify()
        if seen.path.lower().endswith((".jpg", ".jpeg")) and not _jpeg_complete(path):
            problem = "truncated JPEG (no end-of-image marker)"
    except UnreadableImage as e:
        problem = str(e)
    except (OSError, SyntaxError, ValueError) as e:
        problem = f"cannot be read as an image ({e})"
    return NewImage(digest, seen.path, seen.bytes, width, height, problem)


def _jpeg_complete(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 64))
        return b"\xff\xd9" in f.read()

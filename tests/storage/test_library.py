import os
import sqlite3
from pathlib import Path

import pytest
from conftest import make_images
from PIL import Image, features

from tastemaker.errors import TastemakerError
from tastemaker.storage import library as library_module
from tastemaker.storage.library import open_library
from tastemaker.storage.store import SCHEMA_VERSION, Store
from tastemaker.workflows.rate import RateSession


def paths(lib, status="present"):
    return sorted(im.path for im in lib.store.images(status))


def test_scan_finds_images_recursively_and_skips_dot_folders(tmp_path):
    root = tmp_path / "lib"
    make_images(root, 2)
    make_images(root / "a" / "b", 2, prefix="deep")
    make_images(root / ".hidden", 2, prefix="hidden")
    (root / "notes.txt").write_text("not an image")
    with open_library(root) as lib:
        report = lib.scan()
        assert report.present == 4
        assert paths(lib) == ["a/b/deep000.png", "a/b/deep001.png", "img000.png", "img001.png"]
        assert (root / ".tastemaker" / "library.db").exists()
        assert lib.scan().added == 0  # the store itself is never scanned


def test_all_supported_formats_are_found(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    formats = {
        "a.jpg": "JPEG",
        "b.jpeg": "JPEG",
        "c.webp": "WEBP",
        "d.gif": "GIF",
        "e.bmp": "BMP",
        "f.tiff": "TIFF",
        "g.tif": "TIFF",
        "h.PNG": "PNG",
    }
    if features.check("avif"):
        formats["i.avif"] = "AVIF"
    for i, (name, fmt) in enumerate(formats.items()):
        Image.new("RGB", (16, 16), (i * 20, 0, 0)).save(root / name, fmt)
    with open_library(root) as lib:
        lib.scan()
        assert paths(lib) == sorted(formats)


def test_heic_is_read_through_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    root = tmp_path / "lib"
    root.mkdir()
    pillow_heif.from_pillow(Image.new("RGB", (32, 32), (9, 99, 199))).save(root / "x.heic")
    with open_library(root) as lib:
        lib.scan()
        assert paths(lib) == ["x.heic"]
        assert lib.store.images()[0].width == 32


def test_renamed_or_moved_file_keeps_its_history(library):
    session = RateSession(library, seed=0)
    shown = session.next_set()
    session.choose(shown.token, shown.images[0].id, 300)
    moved = shown.images[0]
    src = library.root / moved.path
    (library.root / "elsewhere").mkdir()
    src.rename(library.root / "elsewhere" / "renamed.png")
    library.scan()
    record = library.store.image(moved.id)
    assert record.path == "elsewhere/renamed.png"
    assert record.status == "present"
    assert (
        library.store.ratings()[
            [r.image_id for r in library.store.ratings()].index(moved.id)
        ].comparisons
        == 1
    )


def test_missing_files_are_marked_and_not_shown_and_come_back(library):
    gone = library.root / "img000.png"
    kept = gone.read_bytes()
    gone.unlink()
    report = library.scan()
    assert report.missing == 1
    assert "img000.png" in paths(library, "missing")
    session = RateSession(library, seed=0)
    for _ in range(100):
        assert "img000.png" not in [im.path for im in session.next_set().images]
    gone.write_bytes(kept)
    library.scan()
    assert "img000.png" in paths(library)


def test_unreadable_and_truncated_files_are_reported_by_name_and_scanning_goes_on(tmp_path):
    root = tmp_path / "lib"
    make_images(root, 3)
    (root / "fake.png").write_bytes(b"this is no png")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(root / "whole.jpg")
    data = (root / "whole.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (64, 64), (5, 6, 7)).save(root / "cutpng.png")
    data = (root / "cutpng.png").read_bytes()
    (root / "cutpng.png").write_bytes(data[: len(data) - 30])
    with open_library(root) as lib:
        report = lib.scan()
        bad = dict(report.unreadable)
        assert sorted(bad) == ["cut.jpg", "cutpng.png", "fake.png"]
        assert "truncated" in bad["cut.jpg"].lower()
        assert report.present == 4


def test_rescan_of_unchanged_files_hashes_nothing(library, monkeypatch):
    calls = []
    real = library_module._sha256
    monkeypatch.setattr(library_module, "_sha256", lambda p: calls.append(p) or real(p))
    library.scan()
    assert calls == []
    touched = library.root / "img001.png"
    os.utime(touched, ns=(1, 1))
    library.scan()
    assert calls == [touched]


def test_changed_content_is_a_new_image_and_the_old_one_is_kept_as_missing(library):
    path = library.root / "img002.png"
    before = {im.path: im.id for im in library.store.images()}["img002.png"]
    Image.new("RGB", (32, 24), (250, 250, 250)).save(path)
    library.scan()
    assert library.store.image(before).status == "missing"
    assert "img002.png" in paths(library)


def test_duplicate_content_is_one_image(tmp_path):
    root = tmp_path / "lib"
    (one,) = make_images(root, 1)
    (root / "copy.png").write_bytes(one.read_bytes())
    with open_library(root) as lib:
        lib.scan()
        assert len(lib.store.images()) == 1
        (root / "img000.png").unlink()
        lib.scan()
        assert paths(lib) == ["copy.png"]


def test_links_out_of_the_library_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    make_images(outside, 1, prefix="secret")
    root = tmp_path / "lib"
    make_images(root, 2)
    os.symlink(outside / "secret000.png", root / "link.png")
    os.symlink(outside, root / "linkdir")
    with open_library(root) as lib:
        lib.scan()
        assert paths(lib) == ["img000.png", "img001.png"]
        with pytest.raises(TastemakerError, match="outside the library"):
            lib.file("link.png")


def test_store_is_wal_with_foreign_keys_and_a_schema_version(library):
    db = sqlite3.connect(library.store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert library.store.schema_version() == SCHEMA_VERSION
    assert library.store._writer.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError), library.store.atomic():
        library.store._writer.execute("INSERT INTO files VALUES ('x.png', 1, 1, 9999)")
    db.close()


def test_failed_transaction_changes_nothing(library):
    before = library.store.files()
    with pytest.raises(RuntimeError), library.store.atomic():
        library.store.set_files([], removed=list(before))
        raise RuntimeError("boom")
    assert library.store.files() == before


def test_a_newer_schema_is_refused_with_the_fix(tmp_path):
    db = sqlite3.connect(tmp_path / "library.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(TastemakerError, match=r"newer tastemaker.*pip install -U tastemaker"):
        Store(tmp_path / "library.db")


def test_not_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TastemakerError, match="not a folder"):
        open_library(tmp_path / "nope")


def test_a_corrupt_database_file_is_a_clear_error(tmp_path):
    (tmp_path / ".tastemaker").mkdir()
    (tmp_path / ".tastemaker" / "library.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(TastemakerError, match=r"library\.db: not a tastemaker library"):
        open_library(tmp_path)


def test_paths_given_by_the_user_must_be_inside(library, tmp_path):
    assert library.relative(Path("sub/sub000.png")) == "sub/sub000.png"
    assert library.relative(library.root / "img000.png") == "img000.png"
    with pytest.raises(TastemakerError, match="outside the library"):
        library.relative(Path("../x.png"))

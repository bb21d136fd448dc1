"""RAW files: decoded through LibRaw (rawpy, the ``raw`` extra), a RAW+JPEG pair counted
as one picture, and without the extra one line naming it. The DNG files are written here
(a linear DNG, optionally with an embedded preview), so no sample file is needed."""

import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from conftest import local_client
from PIL import Image

import tastemaker
from tastemaker.errors import UnreadableImage
from tastemaker.storage.decode import RAW_EXTRA, decode
from tastemaker.storage.library import image_files, open_library
from tastemaker.workflows.rate import RateSession, RateSettings

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("rawpy")

PREVIEW_GREY = 200


def write_dng(
    path: Path, size: tuple[int, int] = (128, 96), preview: int | None = None, orientation: int = 1
) -> Path:
    """A linear DNG of ``size`` (a gradient), with an embedded ``preview``-pixel-wide
    plain grey bitmap preview if given, as cameras embed their JPEG, and the camera's
    TIFF ``orientation`` (6: turned 90° clockwise)."""
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint16)
    pixels[..., 0] = np.linspace(0, 60000, w, dtype=np.uint16)[None, :]
    pixels[..., 1] = np.linspace(0, 60000, h, dtype=np.uint16)[:, None]
    pixels[..., 2] = 30000
    dng = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "tastemaker test", True),  # UniqueCameraModel
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (274, "H", 1, orientation, True),
    ]
    levels = [(50717, "I", 1, 65535, True), (50714, "H", 1, 0, True)]  # White-, BlackLevel
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tiff:
        if preview is None:
            tiff.write(pixels, photometric=34892, extratags=dng + levels, subfiletype=0)
        else:
            thumb = np.full((preview * 3 // 4, preview, 3), PREVIEW_GREY, np.uint8)
            tiff.write(thumb, photometric="rgb", subfiletype=1, subifds=1, extratags=dng)
            tiff.write(pixels, photometric=34892, extratags=levels, subfiletype=0)
    return path


def test_the_preview_is_used_when_large_enough_else_a_half_size_demosaic(tmp_path):
    dng = write_dng(tmp_path / "IMG_0001.DNG", (128, 96), preview=32)
    small = decode(dng, side=32)
    assert small.mode == "RGB" and small.size == (32, 24)
    assert set(np.asarray(small).ravel()) == {PREVIEW_GREY}  # the camera's preview
    large = decode(dng, side=64)
    assert large.size == (128, 96)  # the sensor's (a linear DNG has no mosaic to halve)
    assert len(set(np.asarray(large).ravel())) > 1  # demosaiced, not the plain preview


def test_a_camera_held_upright_gives_an_upright_image_by_either_path(tmp_path):
    dng = write_dng(tmp_path / "IMG_0001.DNG", (128, 96), preview=32, orientation=6)
    assert decode(dng, side=32).size == (24, 32)  # the preview, turned
    assert decode(dng, side=64).size == (96, 128)  # the demosaic, turned


def test_a_dng_is_scanned_shown_and_scored(tmp_path, tiny_model):
    root = tmp_path / "shoot"
    write_dng(root / "IMG_0001.dng")
    write_dng(root / "IMG_0002.dng", (96, 128))
    with open_library(root) as lib:
        report = lib.scan()
        assert (report.present, report.unreadable) == (2, [])
        sizes = {im.path: (im.width, im.height) for im in lib.store.images()}
        assert sizes == {"IMG_0001.dng": (128, 96), "IMG_0002.dng": (96, 128)}
        ids = {im.path: im.id for im in lib.store.images()}
        with local_client(RateSession(lib, seed=0)) as client:
            for url in (f"/api/image/{ids['IMG_0001.dng']}", f"/api/thumb/{ids['IMG_0002.dng']}"):
                r = client.get(url)
                assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
                assert Image.open(BytesIO(r.content)).size in ((128, 96), (96, 128))
    scores = tastemaker.load_model(tiny_model).score(sorted(root.glob("*.dng")))
    assert len(scores) == 2 and all(np.isfinite(scores))


def test_a_raw_and_its_jpeg_are_one_picture_the_jpeg(tmp_path):
    root = tmp_path / "shoot"
    write_dng(root / "IMG_0001.CR2.dng")  # a different name: its own picture
    write_dng(root / "IMG_0002.dng")
    Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "IMG_0002.JPG")
    write_dng(root / "sub" / "IMG_0002.dng", (96, 128))  # another folder: its own picture
    with open_library(root) as lib:
        assert lib.scan().present == 3
        assert sorted(im.path for im in lib.store.images()) == [
            "IMG_0001.CR2.dng",
            "IMG_0002.JPG",
            "sub/IMG_0002.dng",
        ]
    skipped: list[tuple[str, str]] = []
    found = image_files([root], skipped)
    assert sorted(p.name for p in found) == ["IMG_0001.CR2.dng", "IMG_0002.JPG", "IMG_0002.dng"]


def test_a_raw_rated_before_its_jpeg_came_stays_the_picture(tmp_path):
    """A JPEG exported later beside a RAW already chosen on must not split the pair's
    choices: the RAW stays the picture."""
    root = tmp_path / "shoot"
    write_dng(root / "IMG_0001.dng")
    Image.new("RGB", (40, 30), (20, 30, 200)).save(root / "IMG_0002.png")
    with open_library(root) as lib:
        lib.scan()
        session = RateSession(lib, seed=0)
        shown = session.next_set()
        session.choose(shown.token, shown.images[0].id)
        Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "IMG_0001.jpg")
        report = lib.scan()
        assert (report.present, report.added, report.missing) == (2, 0, 0)
        assert sorted(im.path for im in lib.store.images()) == ["IMG_0001.dng", "IMG_0002.png"]


def test_a_raw_whose_jpeg_is_deleted_takes_over_its_picture_and_choices(tmp_path):
    """Culling keeps the RAW and deletes the JPEG: the pair's choices must stay on the
    picture that is still there, not on a missing image beside a new one."""
    root = tmp_path / "shoot"
    write_dng(root / "IMG_0001.dng")
    Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "IMG_0001.jpg")
    Image.new("RGB", (40, 30), (20, 30, 200)).save(root / "IMG_0002.png")
    write_dng(root / "IMG_0003.dng", (96, 128))  # a RAW never paired: untouched
    with open_library(root) as lib:
        lib.scan()
        pictures = {im.path: im.id for im in lib.store.images()}
        assert sorted(pictures) == ["IMG_0001.jpg", "IMG_0002.png", "IMG_0003.dng"]
        session = RateSession(lib, RateSettings(choices=3), seed=0)  # the JPEG among them
        shown = session.next_set()
        session.choose(shown.token, pictures["IMG_0001.jpg"])
        session.close()
        (root / "IMG_0001.jpg").unlink()
        report = lib.scan()
        assert (report.present, report.added, report.missing) == (3, 0, 0)
        images = {im.path: im.id for im in lib.store.images()}
        assert images == {
            "IMG_0001.dng": pictures["IMG_0001.jpg"],
            "IMG_0002.png": pictures["IMG_0002.png"],
            "IMG_0003.dng": pictures["IMG_0003.dng"],
        }
        (choice,) = lib.store.comparisons()
        assert choice.winner_id == images["IMG_0001.dng"]
        assert set(choice.shown) == set(images.values())
        assert {im.status for im in lib.store.images()} == {"present"}


def test_without_the_raw_extra_raw_files_are_skipped_in_one_line_said_once(tmp_path, monkeypatch):
    root = tmp_path / "shoot"
    write_dng(root / "IMG_0001.dng")
    write_dng(root / "IMG_0002.DNG")
    write_dng(root / "IMG_0003.NEF")
    Image.new("RGB", (40, 30)).save(root / "IMG_0004.png")
    monkeypatch.setitem(sys.modules, "rawpy", None)  # as if not installed: import fails
    with open_library(root) as lib:
        report = lib.scan()
        assert report.present == 1
        line = ("RAW files (.dng, .nef)", RAW_EXTRA)
        assert report.unreadable == [line]
        assert lib.untold(report.unreadable) == [line]
        assert lib.untold(lib.scan().unreadable) == []  # said once
    with pytest.raises(UnreadableImage, match=r"tastemaker\[raw\]"):
        decode(root / "IMG_0001.dng")


def test_without_the_raw_extra_the_commands_say_so_in_one_line_once(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tastemaker.cli import app

    root = tmp_path / "shoot"
    for i in range(3):
        write_dng(root / f"IMG_{i:04d}.CR2")
    Image.new("RGB", (40, 30)).save(root / "IMG_0009.png")
    monkeypatch.setitem(sys.modules, "rawpy", None)
    runner = CliRunner()
    first = runner.invoke(app, ["scan", str(root)])
    said = [" ".join(line.split()) for line in first.output.splitlines()]
    assert [line for line in said if line.startswith("Skipped")] == [
        f"Skipped RAW files (.cr2): {RAW_EXTRA}"
    ]
    later = runner.invoke(app, ["stats", str(root)])
    assert later.exit_code == 0 and "Skipped" not in later.output

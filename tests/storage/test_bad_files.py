"""One folder holding every kind of file that cannot be used as it is, run through every
command as a person would (each a real process): each command does its job, names each bad
file once with its reason, and never shows a traceback.

Unreadable files and folders are made with permission bits. Root reads through those by its
capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so as root the commands run without
them (dropped from the bounding set before exec): the file is then as unreadable to the
command as a file of another person is to its user.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import Server, make_images
from PIL import Image
from rated import rate

from tastemaker.errors import TastemakerError, UnreadableImage
from tastemaker.storage.decode import decode, open_image, to_rgb
from tastemaker.storage.library import open_library

LIMIT = 1_000_000  # TASTEMAKER_MAX_PIXELS for the commands: the panorama is over it
BAD = {  # name -> a word of the reason each command gives
    "bomb.png": "TASTEMAKER_MAX_PIXELS=900000000",
    "loop.png": "symlink loop",
    "loopdir": "symlink loop",
    "caf\\xe9.png": "not valid UTF-8",
    "locked.png": "Permission denied",
    "locked": "folder cannot be read",
    "truncated.jpg": "truncated",
}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def png_bomb(path: Path, side: int = 30_000) -> None:
    """A 1-bit greyscale PNG of side × side black pixels: about 110 KB on disk, ``side``²
    pixels once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = bytes(1 + side // 8)  # filter byte, then 8 pixels a byte
    data = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def gradient16(width: int = 300, height: int = 300) -> np.ndarray:
    """16-bit greyscale running from 0 (left) to 65535 (right)."""
    return np.tile(np.linspace(0, 65535, width).round().astype(np.uint16), (height, 1))


def unusual_modes(root: Path) -> None:
    """Images in modes a browser or Pillow's resampling do not take as they are."""
    Image.fromarray(gradient16()).save(root / "grey16.png")
    Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(root / "cmyk.jpg")  # red
    Image.new("LA", (300, 300), (200, 128)).save(root / "la.png")
    p = Image.new("P", (300, 300), 0)  # clear left half, blue right half
    p.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    p.paste(1, (150, 0, 300, 300))
    p.save(root / "transparent.png", transparency=0)
    Image.new("1", (300, 300), 1).save(root / "bits.png")
    Image.fromarray(np.full((300, 300), 0.5, np.float32)).save(root / "float.tif")


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A rated library whose folder then gains every bad file kind."""
    root = tmp_path_factory.mktemp("bad") / "lib"
    make_images(root, 8)
    make_images(root / "sub", 4, prefix="sub")
    with open_library(root) as library:
        library.scan()
        rate(library, 24, 8).close()
    unusual_modes(root)
    png_bomb(root / "bomb.png")
    x = np.linspace(0, 255, 2400).astype(np.uint8)
    Image.fromarray(np.stack([np.tile(x, (800, 1))] * 3, -1)).save(root / "panorama.jpg")
    (root / "loop.png").symlink_to("loop.png")
    (root / "loopdir").symlink_to(".", target_is_directory=True)
    with open(os.path.join(os.fsencode(root), b"caf\xe9.png"), "wb") as f:
        Image.new("RGB", (20, 20), "white").save(f, "PNG")
    shutil.copy(root / "img000.png", root / "locked.png")
    make_images(root / "locked", 2, prefix="hidden")
    truncated = io.BytesIO()
    Image.new("RGB", (300, 300), "green").save(truncated, "JPEG")
    (root / "truncated.jpg").write_bytes(truncated.getvalue()[:600])
    (root / "locked.png").chmod(0)
    (root / "locked").chmod(0)
    yield root
    (root / "locked").chmod(0o755)


LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child only calls it


def without_root_reads() -> None:
    """Drop root's power to read past permission bits (PR_CAPBSET_DROP, before exec)."""
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if LIBC.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_user() -> dict[str, object]:
    """Popen arguments that run a command as a person, whom permission bits stop."""
    env = {**os.environ, "PYTHONPATH": SRC, "TASTEMAKER_MAX_PIXELS": str(LIMIT)}
    return {"env": env, "preexec_fn": without_root_reads if os.geteuid() == 0 else None}


def tastemaker(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tastemaker", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **as_user(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def assert_each_named_once(stderr: str, bad: dict[str, str] = BAD) -> None:
    skipped = [line for line in stderr.splitlines() if line.startswith("Skipped ")]
    for name, reason in bad.items():
        lines = [line for line in skipped if line.split(": ")[0].endswith(name)]
        assert len(lines) == 1, (name, stderr)
        assert reason in lines[0], (name, lines[0])
    assert len(skipped) == len(bad), stderr


def assert_told_before(stderr: str, folder: Path) -> None:
    """Files the scan named are not named again: one line counts them."""
    assert "Skipped " not in stderr, stderr
    summary = f"{len(BAD)} unreadable files skipped, named before (tastemaker scan {folder} "
    assert summary in " ".join(stderr.split()), stderr


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_every_command_goes_on_without_the_bad_files(bad_folder: Path):
    top = bad_folder.parent
    scan = tastemaker("scan", str(bad_folder))
    assert_each_named_once(scan.stderr)
    assert "19 images" in scan.stdout  # 12 rated, 6 unusual modes, the panorama
    assert_told_before(tastemaker("stats", str(bad_folder)).stderr, bad_folder)
    exported = tastemaker("export", str(bad_folder), "-o", str(top / "scores.csv"))
    assert_told_before(exported.stderr, bad_folder)
    imported = tastemaker("import", str(bad_folder), str(top / "scores.csv"))
    assert_told_before(imported.stderr, bad_folder)
    model = str(top / "taste.safetensors")
    trained = tastemaker("train", str(bad_folder), "--extractor", "efficientnet-lite0", "-o", model)
    assert_told_before(trained.stderr, bad_folder)
    assert "Embeddings: 19 images" in trained.stdout
    scored = tastemaker("score", model, str(bad_folder), "--json")
    unusable = {  # score reads files a scan has kept out of the library
        **BAD,
        "bomb.png": "TASTEMAKER_MAX_PIXELS=900000000",
        "locked.png": "Permission denied",
        "truncated.jpg": "truncated",
    }
    assert_each_named_once(scored.stderr, unusable)
    assert len(json.loads(scored.stdout)) == 19


def test_the_rating_server_shows_every_readable_image(bad_folder: Path):
    server = Server(bad_folder, **as_user())
    try:
        status, body = fetch(server.url + "api/gallery?limit=500")
        assert status == 200
        images = {im["path"]: im for im in json.loads(body)["images"]}
        assert len(images) == 19 and "panorama.jpg" in images
        shown = {}
        for path, im in images.items():
            for kind in ("image", "thumb"):
                status, data = fetch(f"{server.url}api/{kind}/{im['id']}")
                assert status == 200, (path, kind, data[:300])
                shown[path, kind] = Image.open(io.BytesIO(data))
    finally:
        server.stop()
    _, err = server.output()
    assert "Traceback" not in err
    if "Skipped " in err:  # the first command on this folder
        assert_each_named_once(err)
    else:  # named by the test before
        assert_told_before(err, bad_folder)
    grey = np.asarray(shown["grey16.png", "thumb"].convert("L"), float)
    assert shown["grey16.png", "thumb"].size == (256, 256)
    row = grey[128]
    assert row[0] < 8 and row[-1] > 247 and abs(row[128] - 128) < 8  # scaled, not clipped
    assert np.all(np.diff(row[::16]) > 0)
    red = shown["cmyk.jpg", "thumb"].convert("RGB").getpixel((128, 128))
    assert red[0] > 230 and red[1] < 25 and red[2] < 25
    assert shown["transparent.png", "thumb"].mode == "RGBA"
    assert shown["transparent.png", "thumb"].getpixel((5, 5))[3] == 0
    assert shown["transparent.png", "thumb"].getpixel((250, 128)) == (0, 0, 255, 255)
    assert max(shown["panorama.jpg", "image"].size) <= 2048


@pytest.mark.parametrize(
    ("mode", "make", "expected"),
    [
        ("I;16", lambda: Image.fromarray(gradient16(3, 1)), [0, 128, 255]),
        (
            "I;16B",
            lambda: Image.frombytes("I;16B", (3, 1), gradient16(3, 1).astype(">u2").tobytes()),
            [0, 128, 255],
        ),
        ("I", lambda: Image.fromarray(gradient16(3, 1).astype(np.int32)), [0, 128, 255]),
        ("I", lambda: Image.fromarray(np.array([[0, 100, 255]], np.int32)), [0, 100, 255]),
        ("F", lambda: Image.fromarray(np.array([[0, 0.5, 1]], np.float32)), [0, 128, 255]),
        ("1", lambda: Image.fromarray(np.array([[0, 1, 1]], bool)), [0, 255, 255]),
    ],
)
def test_deep_and_odd_greyscale_become_8_bit_rgb(mode, make, expected):
    image = make()
    assert image.mode == mode
    rgb = to_rgb(image)
    assert rgb.mode == "RGB"
    assert [rgb.getpixel((x, 0)) for x in range(3)] == [(v, v, v) for v in expected]


def test_transparency_is_kept_only_when_asked():
    la = Image.new("LA", (2, 1), (200, 0))
    assert to_rgb(la, alpha=True).getpixel((0, 0)) == (200, 200, 200, 0)
    assert to_rgb(la).getpixel((0, 0)) == (200, 200, 200)
    p = Image.new("P", (2, 1), 1)
    p.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    p.info["transparency"] = 0
    p.putpixel((1, 0), 0)
    assert to_rgb(p, alpha=True).getpixel((0, 0)) == (10, 20, 30, 255)
    assert to_rgb(p, alpha=True).getpixel((1, 0))[3] == 0
    assert to_rgb(Image.new("CMYK", (1, 1), (0, 255, 255, 0))).getpixel((0, 0)) == (255, 0, 0)


def test_a_jpeg_over_the_pixel_limit_is_decoded_reduced(tmp_path, monkeypatch):
    x = np.linspace(0, 255, 2400).astype(np.uint8)
    Image.fromarray(np.tile(x, (800, 1))).save(tmp_path / "panorama.jpg")
    png_bomb(tmp_path / "bomb.png", 2000)
    assert decode(tmp_path / "panorama.jpg").size == (2400, 800)  # under Pillow's own limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # put back after
    monkeypatch.setenv("TASTEMAKER_MAX_PIXELS", str(LIMIT))
    with open_image(tmp_path / "panorama.jpg") as im:
        assert im.size == (2400, 800)  # what a scan records
    assert decode(tmp_path / "panorama.jpg").size == (1200, 400)
    assert decode(tmp_path / "panorama.jpg", side=256).size == (300, 100)
    with pytest.raises(UnreadableImage, match="TASTEMAKER_MAX_PIXELS=4000000"):
        decode(tmp_path / "bomb.png")
    monkeypatch.setenv("TASTEMAKER_MAX_PIXELS", "lots")
    with pytest.raises(TastemakerError, match="TASTEMAKER_MAX_PIXELS='lots'"):
        decode(tmp_path / "bomb.png")


def test_an_image_that_became_unreadable_is_named_where_it_is_read(tmp_path, tiny_model):
    """A file made unreadable after its scan stays in the library (a rescan sees the same
    size and time); the server answers for it in the one error shape, and the commands
    that embed it name it."""
    make_images(tmp_path / "lib", 3)
    Image.fromarray(gradient16()).save(tmp_path / "lib" / "deep.png")
    with open_library(tmp_path / "lib") as library:
        library.scan()
        ids = {im.path: im.id for im in library.store.images("present")}
    for name in ("img001.png", "deep.png"):
        (tmp_path / "lib" / name).chmod(0)
    server = Server(tmp_path / "lib", "--model", str(tiny_model), **as_user())
    try:
        answers = [
            fetch(f"{server.url}api/{kind}/{ids[name]}")
            for name in ("img001.png", "deep.png")
            for kind in ("image", "thumb")
        ]
        assert fetch(f"{server.url}api/image/{ids['img000.png']}")[0] == 200
    finally:
        server.stop()
    for (status, body), name in zip(answers, ["img001.png"] * 2 + ["deep.png"] * 2, strict=True):
        error = json.loads(body)
        assert status == 404 and error["ok"] is False and name in error["error"], body
    err = server.output()[1]
    assert "Traceback" not in err
    named = sorted(line.split(":")[0] for line in err.splitlines() if "Permission denied" in line)
    assert named == ["Skipped deep.png", "Skipped img001.png"]  # by the model in the loop
    prior = tastemaker("prior", str(tmp_path / "lib"), "--model", str(tiny_model))
    skipped = [line for line in prior.stderr.splitlines() if line.startswith("Skipped ")]
    assert len(skipped) == 2 and "Permission denied" in skipped[0], prior.stderr


def test_a_jpeg_too_big_even_at_one_eighth_is_refused(tmp_path, monkeypatch):
    Image.new("L", (800, 800)).save(tmp_path / "wide.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # put back after
    monkeypatch.setenv("TASTEMAKER_MAX_PIXELS", "9000")  # 1/8 scale is 100 × 100
    with pytest.raises(UnreadableImage, match="TASTEMAKER_MAX_PIXELS=640000"):
        open_image(tmp_path / "wide.jpg")

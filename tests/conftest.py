"""Shared fixtures: small libraries of generated images (no test reaches the network)."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from PIL import Image

from tastemaker.storage.library import Library, open_library


def make_images(
    folder: Path, n: int, prefix: str = "img", size: tuple[int, int] = (32, 24)
) -> list[Path]:
    """``n`` distinct small PNGs (distinct colours, so distinct content hashes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}{i:03d}.png"
        colour = (i * 37 % 256, i * 91 % 256, (i * 53 + zlib.crc32(prefix.encode())) % 256)
        Image.new("RGB", size, colour).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """A scanned library of 10 images, 4 of them in a sub-folder."""
    make_images(tmp_path / "lib", 6)
    make_images(tmp_path / "lib" / "sub", 4, prefix="sub")
    lib = open_library(tmp_path / "lib")
    lib.scan()
    yield lib
    lib.close()

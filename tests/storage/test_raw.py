"""RAW files: decoded through LibRaw (rawpy, the ``raw`` extra), a RAW+JPEG pair counted
as one picture, and without the extra one line naming it. The DNG files are written here
(a linear DNG, optionally with an embedded preview), so no sample file is needed."""

from pathlib import Path

import numpy as np
import pytest

from tastemaker.storage.decode import decode

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("rawpy")

PREVIEW_GREY = 200


def write_dng(path: Path, size: tuple[int, int] = (128, 96), preview: int | None = None) -> Path:
    """A linear DNG of ``size`` (a gradient), with an embedded ``preview``-pixel-wide
    plain grey bitmap preview if given, as cameras embed their JPEG."""
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

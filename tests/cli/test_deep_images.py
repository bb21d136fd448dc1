"""The model sees an image in any mode as the page shows it: 16-bit and 32-bit
greyscale scaled (not clipped to white), CMYK, 1-bit and transparent ones converted."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()
W, H = 64, 48


def ramp(top: int) -> np.ndarray:
    """A left-to-right gradient from 0 to ``top``."""
    return np.tile(np.linspace(0, top, W).round(), (H, 1))


def grey(values: np.ndarray) -> Image.Image:
    """The 8-bit RGB image a viewer shows for greyscale ``values`` in 0..255."""
    return Image.fromarray(values.round().astype(np.uint8)).convert("RGB")


def unusual(folder):
    """(file in an unusual mode, the 8-bit RGB image it shows) pairs."""
    g16 = ramp(65535).astype(np.uint16)
    as_8_bit = grey(g16 * (255 / 65535))
    cases = {
        "grey16.png": (Image.fromarray(g16), as_8_bit),
        "grey16.tif": (Image.fromarray(g16), as_8_bit),
        "grey16b.tif": (Image.frombytes("I;16B", (W, H), g16.astype(">u2").tobytes()), as_8_bit),
        "grey32.tif": (Image.fromarray(g16.astype(np.int32)), as_8_bit),
        "float.tif": (Image.fromarray((g16 / 65535).astype(np.float32)), as_8_bit),
        "cmyk.tif": (Image.new("CMYK", (W, H), (0, 255, 255, 0)), Image.new("RGB", (W, H), "red")),
        "bits.png": (Image.fromarray(ramp(1) > 0.5), grey((ramp(1) > 0.5) * 255.0)),
    }
    pairs = []
    for name, (image, shown) in cases.items():
        image.save(folder / name)
        shown.save(folder / f"shown-{name}.png")
        pairs.append((name, f"shown-{name}.png"))
    Image.new("RGB", (W, H), "white").save(folder / "white.png")
    return pairs


def test_every_mode_scores_as_the_image_it_shows(tmp_path, tiny_model):
    pairs = unusual(tmp_path)
    result = runner.invoke(app, ["score", str(tiny_model), str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    scores = {r["path"].rsplit("/", 1)[-1]: r["score"] for r in json.loads(result.stdout)}
    assert len(scores) == 2 * len(pairs) + 1  # every one read
    for name, shown in pairs:
        assert scores[name] == pytest.approx(scores[shown], abs=1e-4), name
    assert abs(scores["grey16.png"] - scores["white.png"]) > 1e-3  # not seen as white


def test_a_deep_array_scores_as_the_image_it_shows(tiny_model):
    """A 16-bit scan handed to the Python API as an array, as a file would be."""
    from tastemaker import load_model

    scorer = load_model(tiny_model)
    g16 = ramp(65535).astype(np.uint16)[..., None].repeat(3, -1)
    shown = np.asarray(grey(g16[..., 0] * (255 / 65535)))
    white = np.full_like(shown, 255)
    deep, wide, eight, blank = scorer.score([g16, g16.astype(np.int32), shown, white])
    assert deep == pytest.approx(eight, abs=1e-4) and wide == pytest.approx(eight, abs=1e-4)
    assert abs(deep - blank) > 1e-3

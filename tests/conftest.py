"""Shared fixtures: small libraries of generated images (no test reaches the network)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ["HF_HUB_OFFLINE"] = "1"  # no test reaches the network, even by mistake

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tastemaker.storage.library import Library, open_library
from tastemaker.web.app import create_app
from tastemaker.workflows.rate import RateSession

if TYPE_CHECKING:
    from tastemaker.training import TrainingData


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


def noise_image(path: Path, size: tuple[int, int] = (40, 32)) -> Path:
    """An image of random pixels: unlike the plain-coloured ones :func:`make_images`
    draws, so far from everything the tiny models learnt from."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def save_tiny_backbone(family: str, folder: Path) -> Path:
    """A few-layer CLIP / SigLIP / DINOv2 with random weights and its image processor,
    saved with ``save_pretrained`` so tests load it through the real loaders. The
    ``-full`` families are whole two-tower models, as most hub checkpoints are."""
    import transformers as t

    small = {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
    }
    text = {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
    }
    models = {
        "clip": lambda: t.CLIPVisionModelWithProjection(
            t.CLIPVisionConfig(num_hidden_layers=3, projection_dim=16, **small)
        ),
        "clip-full": lambda: t.CLIPModel(
            t.CLIPConfig(
                vision_config={"num_hidden_layers": 3, **small}, text_config=text, projection_dim=16
            )
        ),
        "siglip": lambda: t.SiglipVisionModel(t.SiglipVisionConfig(num_hidden_layers=2, **small)),
        "siglip-full": lambda: t.SiglipModel(
            t.SiglipConfig(vision_config={"num_hidden_layers": 2, **small}, text_config=text)
        ),
        "dinov2": lambda: t.Dinov2Model(t.Dinov2Config(num_hidden_layers=2, **small)),
    }
    crop = {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}
    processors = {
        "clip": lambda: t.CLIPImageProcessor(**crop),
        "siglip": lambda: t.SiglipImageProcessor(size={"height": 32, "width": 32}),
        "dinov2": lambda: t.BitImageProcessor(**crop),
    }
    models[family]().save_pretrained(folder)
    processors[family.removesuffix("-full")]().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_backbone("clip", tmp_path_factory.mktemp("tiny-clip"))


def local_client(session: RateSession, **kwargs: object) -> TestClient:
    """The app over ``session`` in process, addressed as the person's browser would: the
    server refuses any other Host (such as TestClient's own ``testserver``)."""
    return TestClient(create_app(session), base_url="http://127.0.0.1:8765", **kwargs)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """A scanned library of 10 images, 4 of them in a sub-folder."""
    make_images(tmp_path / "lib", 6)
    make_images(tmp_path / "lib" / "sub", 4, prefix="sub")
    lib = open_library(tmp_path / "lib")
    lib.scan()
    yield lib
    lib.close()


class Server:
    """``tastemaker rate`` running as a real process, as a person starts it."""

    def __init__(self, folder: Path, *args: str, **popen: object) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tastemaker",
                "rate",
                str(folder),
                "--no-browser",
                "--port",
                "0",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )
        self.printed: list[str] = []  # what it printed up to its URL
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        # readline blocks until the server prints its URL, which it does once listening
        lines = self.printed
        for line in self.process.stdout:
            lines.append(line)
            if line.startswith("http://"):
                return line.strip()
        self.process.wait(10)
        raise RuntimeError("server did not start:\n" + "".join(lines) + self.process.stderr.read())

    def output(self) -> tuple[str, str]:
        """Everything it printed, once it has exited."""
        out, err = self.process.communicate(timeout=30)
        return out, err

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()  # a failed test leaves no server behind

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def tiny_taste(tiny_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyTaste:
    """The tiny CLIP's embeddings of 40 generated images whose taste is their redness,
    and 400 choices by it: what the tiny models learn from."""
    import numpy as np

    from tastemaker.features.extract import extract
    from tastemaker.features.layers import LayerChoice
    from tastemaker.features.loaders import load_extractor
    from tastemaker.training import TrainingData

    folder = tmp_path_factory.mktemp("tiny-model")
    paths = make_images(folder / "images", 40, size=(40, 32))
    vectors = np.concatenate(
        [
            b.vectors
            for b in extract(load_extractor(str(tiny_clip)), paths, LayerChoice(), workers=0)
        ]
    )
    redness = np.array([Image.open(p).getpixel((0, 0))[0] for p in paths], float)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 40, 400), rng.integers(0, 40, 400)
    keep = redness[a] != redness[b]
    winners = np.where(redness[a] > redness[b], a, b)[keep]
    losers = np.where(redness[a] > redness[b], b, a)[keep]
    meta = {"extractor": str(tiny_clip), "layers": (0,), "layer_mode": "join", "ratings": "elo"}
    return TinyTaste(folder, paths, TrainingData(vectors, redness, winners, losers), meta)


@dataclass(frozen=True)
class TinyTaste:
    folder: Path  # where the images are, and the models go
    paths: list[Path]  # the images, one per row of data
    data: TrainingData
    meta: dict[str, Any]  # what train_model and learn take as meta_base


@pytest.fixture(scope="session")
def tiny_model(tiny_taste: TinyTaste) -> Path:
    """An MLP taste model trained (a few epochs) on the tiny taste; saved as a
    .safetensors file. It gives no uncertainty."""
    from tastemaker.training import TrainParams, train_model

    result = train_model(tiny_taste.data, TrainParams(epochs=8, hidden=(16, 8)), tiny_taste.meta)
    return result.model.save(tiny_taste.folder / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_kernel_model(tiny_taste: TinyTaste) -> Path:
    """A kernel taste model (the default learner) of the tiny taste, a quarter of the
    images held out while choosing its settings; saved as a .safetensors file. It gives
    each score an uncertainty."""
    import dataclasses

    import numpy as np

    from tastemaker.training.learners import learn

    full = tiny_taste.data
    split = dataclasses.replace(full, heldout=np.arange(full.n) % 4 == 0)
    learned = learn(split, full, tiny_taste.meta)
    return learned.model.save(tiny_taste.folder / "tiny-kernel.safetensors")


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("TASTEMAKER_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium not found: run scripts/setup --dev (or set TASTEMAKER_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, shared by the end-to-end tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


def run_quick(tmp_path: Path, name: str, *args: str) -> tuple[dict, str]:
    """Run ``benchmarks/NAME.py --quick`` as a user would; its JSON and what it printed."""
    import json

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / f"{name}.py"),
            "--quick",
            "--json",
            str(out),
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout

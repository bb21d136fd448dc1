"""Tests for the synthetic demo library (tastemaker.workflows.demo_images)."""

from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tastemaker.workflows.demo_images import CATEGORIES, DemoImage, demo_taste, generate_demo_images

COUNT = 24


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DemoImage]]:
    folder = tmp_path_factory.mktemp("demo")
    return folder, generate_demo_images(folder, count=COUNT, seed=0)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in _files(folder)}


def test_writes_count_files_in_sub_folders(library: tuple[Path, list[DemoImage]]) -> None:
    folder, images = library
    files = _files(folder)
    assert len(images) == COUNT
    assert len(files) == COUNT
    assert sorted(p.path for p in images) == files
    assert {p.parent.name for p in files} == set(CATEGORIES)
    assert all(p.parent.parent == folder for p in files)  # one level of sub-folders
    assert len({p.path for p in images}) == COUNT
    for image in images:
        assert image.path.is_absolute()
        assert image.path.parent.name == image.category


def test_same_seed_gives_identical_bytes(
    library: tuple[Path, list[DemoImage]], tmp_path: Path
) -> None:
    folder, images = library
    again = generate_demo_images(tmp_path / "again", count=COUNT, seed=0)
    assert [(i.warmth, i.roundness, i.complexity, i.category) for i in again] == [
        (i.warmth, i.roundness, i.complexity, i.category) for i in images
    ]
    assert _bytes(tmp_path / "again") == _bytes(folder)


def test_different_seed_gives_different_images(
    library: tuple[Path, list[DemoImage]], tmp_path: Path
) -> None:
    folder, _ = library
    generate_demo_images(tmp_path, count=COUNT, seed=1)
    ours, theirs = _bytes(folder), _bytes(tmp_path)
    shared = set(ours) & set(theirs)
    assert sum(ours[name] == theirs[name] for name in shared) == 0
    assert set(ours.values()).isdisjoint(theirs.values())


def test_regenerating_overwrites_in_place(tmp_path: Path) -> None:
    first = generate_demo_images(tmp_path, count=4, seed=3)
    before = _bytes(tmp_path)
    first[0].path.write_bytes(b"garbage")
    generate_demo_images(tmp_path, count=4, seed=3)
    assert _bytes(tmp_path) == before


def test_files_open_with_size_and_format_variety(
    library: tuple[Path, list[DemoImage]],
) -> None:
    _, images = library
    sizes, formats = set(), set()
    for image in images:
        with Image.open(image.path) as im:
            im.load()
            assert im.mode == "RGB"
            expected = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[image.path.suffix]
            assert im.format == expected
            sizes.add(im.size)
            formats.add(im.format)
    assert formats == {"JPEG", "PNG", "WEBP"}
    assert any(w > h for w, h in sizes), "some landscape"
    assert any(w < h for w, h in sizes), "some portrait"
    assert any(w == h for w, h in sizes), "some square"
    assert any(w * h >= 1_500_000 for w, h in sizes), "some large enough to be downscaled"
    assert len(sizes) >= 4


def test_attributes_in_range_and_varied(library: tuple[Path, list[DemoImage]]) -> None:
    _, images = library
    warmth = np.array([i.warmth for i in images])
    roundness = np.array([i.roundness for i in images])
    complexity = np.array([i.complexity for i in images])
    assert np.all((warmth >= -1) & (warmth <= 1))
    assert np.all((roundness >= 0) & (roundness <= 1))
    assert np.all((complexity >= 0) & (complexity <= 1))
    assert (warmth > 0.5).any() and (warmth < -0.5).any()
    assert (roundness > 0.75).any() and (roundness < 0.25).any()
    assert (complexity > 0.75).any() and (complexity < 0.25).any()
    for values in (warmth, roundness, complexity):
        assert values.std() > 0.2


def test_demo_image_is_frozen(library: tuple[Path, list[DemoImage]]) -> None:
    _, images = library
    with pytest.raises(FrozenInstanceError):
        images[0].warmth = 0.0  # type: ignore[misc]


def test_on_image_called_once_per_image(tmp_path: Path) -> None:
    calls: list[int] = []

    def on_image() -> None:
        calls.append(len(_files(tmp_path)))

    images = generate_demo_images(tmp_path, count=8, seed=5, on_image=on_image)
    assert len(calls) == len(images) == 8
    assert all(n >= k + 1 for k, n in enumerate(calls)), "called after the image is written"


def test_zero_count_and_negative_count(tmp_path: Path) -> None:
    assert generate_demo_images(tmp_path, count=0) == []
    assert _files(tmp_path) == []
    with pytest.raises(ValueError):
        generate_demo_images(tmp_path, count=-1)


def test_warm_images_are_warmer(library: tuple[Path, list[DemoImage]]) -> None:
    _, images = library
    red_minus_blue = []
    for image in images:
        with Image.open(image.path) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
        red_minus_blue.append(pixels[..., 0].mean() - pixels[..., 2].mean())
    warmth = [i.warmth for i in images]
    assert np.corrcoef(warmth, red_minus_blue)[0, 1] > 0.7


def test_busier_images_have_more_edges(library: tuple[Path, list[DemoImage]]) -> None:
    _, images = library
    edges = []
    for image in images:
        with Image.open(image.path) as im:
            small = im.convert("L").resize((128, 128), Image.Resampling.BOX)
        a = np.asarray(small, dtype=np.float64)
        edges.append(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())
    ranks = np.argsort(np.argsort(edges))  # rank correlation: a few sharp patterns dominate
    assert np.corrcoef([i.complexity for i in images], ranks)[0, 1] > 0.3


def test_demo_taste_prefers_warm_round_medium() -> None:
    def make(warmth: float, roundness: float, complexity: float) -> DemoImage:
        return DemoImage(Path("/x.jpg"), warmth, roundness, complexity, "mixed")

    best = demo_taste(make(1.0, 1.0, 0.5))
    worst = demo_taste(make(-1.0, 0.0, 0.0))
    assert best == pytest.approx(1.0)
    assert worst == pytest.approx(-1.0)
    assert demo_taste(make(0.5, 0.5, 0.5)) > demo_taste(make(-0.5, 0.5, 0.5))
    assert demo_taste(make(0.0, 0.8, 0.5)) > demo_taste(make(0.0, 0.2, 0.5))
    assert demo_taste(make(0.0, 0.5, 0.5)) > demo_taste(make(0.0, 0.5, 0.95))
    assert demo_taste(make(0.0, 0.5, 0.5)) > demo_taste(make(0.0, 0.5, 0.05))


def test_demo_taste_spreads_over_library(library: tuple[Path, list[DemoImage]]) -> None:
    _, images = library
    utilities = [demo_taste(i) for i in images]
    assert all(-1.0 <= u <= 1.0 for u in utilities)
    assert np.std(utilities) > 0.2

"""``train`` from the command line: the samplers it offers, the checks it makes before
any long work, what it shows while it works, and Ctrl-C during a search."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_images
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.storage.library import open_library
from tastemaker.training.search import SAMPLERS

runner = CliRunner()
OFFLINE = ["--extractor", "efficientnet-lite0"]


def one_line(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def rated_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 images and 120 choices among them."""
    folder = tmp_path_factory.mktemp("train") / "lib"
    make_images(folder, 40)
    with open_library(folder) as library:
        library.scan()
        rate(library, 120, 40).close()
    return folder


def test_every_advertised_sampler_runs_a_search(rated_folder):
    """Each sampler ``--help`` names works as installed: none needs a package that
    tastemaker does not bring."""
    help_text = one_line(runner.invoke(app, ["train", "--help"]))
    assert "tpe, cmaes or random" in help_text
    for done, sampler in enumerate(SAMPLERS, start=1):
        args = ["train", str(rated_folder), *OFFLINE, "--learner", "mlp", "--trials", "2"]
        result = runner.invoke(app, [*args, "--sampler", sampler])
        assert result.exit_code == 0, (sampler, result.output)
        assert f"Search history ({2 * done} trials)" in one_line(result)  # the same study


def _embedded(folder: Path) -> int:
    """How many of the library's images have an efficientnet-lite0 embedding cached."""
    with open_library(folder) as library:
        hashes = [im.hash for im in library.store.images()]
        return len(library.store.embeddings("efficientnet-lite0", "0", hashes))


def _rated(folder: Path, images: int, choices: int) -> Path:
    make_images(folder, images)
    with open_library(folder) as library:
        library.scan()
        rate(library, choices, choices).close()
    return folder


def test_layers_the_extractor_lacks_are_refused_before_the_scan(tmp_path):
    """The registry knows the bundled backbone's layers and their sizes: the command
    stops before scanning the folder, let alone loading the backbone."""
    folder = _rated(tmp_path / "lib", 4, 2)
    make_images(folder, 3, prefix="new")  # the scan would add these
    for layers, message in (
        (["--layers", "0,9"], "efficientnet-lite0 offers --layers 0 to 8, not 9"),
        (
            ["--layers", "0,2", "--layer-mode", "average"],
            "efficientnet-lite0: layers (0, 2) have different sizes (1280, 192); "
            "use --layer-mode join",
        ),
    ):
        result = runner.invoke(app, ["train", str(folder), *OFFLINE, *layers])
        assert result.exit_code == 1 and result.output == f"Error: {message}\n"
    with open_library(folder) as library:
        assert len(library.store.images()) == 4  # not scanned


def test_a_models_folder_that_is_a_file_is_refused_before_the_scan(tmp_path):
    folder = _rated(tmp_path / "lib", 4, 2)
    models = folder / ".tastemaker" / "models"
    models.write_text("not a folder")
    make_images(folder, 3, prefix="new")
    result = runner.invoke(app, ["train", str(folder), *OFFLINE])
    assert result.exit_code == 1
    assert one_line(result) == (
        f"Error: {models}: a file where the library keeps its models; move it away, "
        "or save the model elsewhere"
    )
    with open_library(folder) as library:
        assert len(library.store.images()) == 4
    other = tmp_path / "model.safetensors"
    result = runner.invoke(app, ["train", str(folder), *OFFLINE, "-o", str(other)])
    assert result.exit_code == 0, result.output
    assert other.is_file()


def test_too_few_choices_are_refused_before_anything_is_embedded(tmp_path):
    """Each learner's needs are checked on the present images and their choices before
    the first image is embedded, in one line."""
    few = _rated(tmp_path / "few", 10, 1)  # two images rated: the kernel needs three
    result = runner.invoke(app, ["train", str(few), *OFFLINE])
    assert result.exit_code == 1
    assert one_line(result) == (
        "Error: Only 2 of the training images have been in a choice with another: "
        "rate more before training."
    )
    assert _embedded(few) == 0

    # a search needs held-out images: a share this small holds out none of these
    search = ["--learner", "mlp", "--trials", "2", "--heldout", "0.05"]
    result = runner.invoke(app, ["train", str(few), *OFFLINE, *search])
    assert result.exit_code == 1
    assert one_line(result) == "Error: A search needs held-out images to compare trials on."
    assert _embedded(few) == 0

    # every choice was between images since deleted: nothing left to learn from
    gone = _rated(tmp_path / "gone", 10, 2)
    with open_library(gone) as library:
        for c in library.store.comparisons():
            for image in library.store.images():
                if image.id in c.shown:
                    (gone / image.path).unlink(missing_ok=True)
    result = runner.invoke(app, ["train", str(gone), *OFFLINE])
    assert result.exit_code == 1
    assert "no choices to learn from yet; rate first" in one_line(result)
    assert _embedded(gone) == 0

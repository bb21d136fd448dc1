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

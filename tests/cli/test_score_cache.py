"""`score` uses the embeddings a library holding the images has computed already."""

import json
import shutil

import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.features.layers import LayerChoice
from tastemaker.storage.library import open_library
from tastemaker.workflows.embeddings import library_embeddings

runner = CliRunner()


def one_line(result) -> str:
    return " ".join(result.output.split())


def scores(result) -> dict[str, float]:
    assert result.exit_code == 0, result.output
    lines = result.stdout[result.stdout.index("[") :]  # after any line on stderr
    return {r["path"].rsplit("/", 1)[-1]: r["score"] for r in json.loads(lines)}


def test_score_reuses_a_librarys_embeddings_and_says_so(tmp_path, tiny_model, tiny_taste):
    make_images(tmp_path / "lib", 3)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        library_embeddings(library, tiny_taste.meta["extractor"], LayerChoice())
    make_images(tmp_path / "lib" / "new", 1, prefix="new")  # added since: not embedded yet
    shutil.copytree(tmp_path / "lib", tmp_path / "elsewhere", ignore=shutil.ignore_patterns(".*"))

    cached = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "lib"), "--json"])
    assert "Embeddings: 4 images (1 extracted, 3 from cache)" in one_line(cached)
    fresh = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "elsewhere"), "--json"])
    assert "Embeddings:" not in fresh.output  # no library there: nothing to reuse
    got, expected = scores(cached), scores(fresh)
    assert got.keys() == expected.keys() and len(got) == 4
    for name, score in expected.items():
        assert got[name] == pytest.approx(score, abs=1e-4)
    assert not (tmp_path / "elsewhere" / ".tastemaker").exists()  # scoring made no library

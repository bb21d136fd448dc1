"""`score` lists images best first, and equal scores always in the same (path) order."""

import json
import shutil

from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()


def test_equal_scores_are_listed_by_path_whatever_the_order_given(tmp_path, tiny_model):
    (original,) = make_images(tmp_path, 1)
    copies = [tmp_path / f"{name}.png" for name in ("b", "c", "a")]
    for copy in copies:
        shutil.copy(original, copy)
    result = runner.invoke(app, ["score", str(tiny_model), *map(str, copies), "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len({r["score"] for r in records}) == 1  # the same image thrice
    assert [r["path"] for r in records] == [str(tmp_path / f"{n}.png") for n in "abc"]

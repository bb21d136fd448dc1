"""One way to ask for a format: --format, on every command that prints or writes one;
--json, its older spelling, still works but is left out of the help."""

import json

import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()


def one_line(result) -> str:
    return " ".join(result.output.split())


@pytest.mark.parametrize("command", ["stats", "score"])
def test_format_is_in_the_help_and_json_is_not(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--format" in result.output and "--json" not in result.output


def test_stats_prints_json_by_format_or_by_the_old_flag(tmp_path):
    make_images(tmp_path / "lib", 3)
    runner.invoke(app, ["scan", str(tmp_path / "lib")])
    by_format = runner.invoke(app, ["stats", str(tmp_path / "lib"), "--format", "json"])
    by_flag = runner.invoke(app, ["stats", str(tmp_path / "lib"), "--json"])
    assert by_format.exit_code == by_flag.exit_code == 0
    assert json.loads(by_format.stdout) == json.loads(by_flag.stdout)
    assert json.loads(by_format.stdout)["images"] == 3
    bad = runner.invoke(app, ["stats", str(tmp_path / "lib"), "--format", "xml"])
    assert bad.exit_code == 1 and one_line(bad) == "Error: --format is text or json, not 'xml'"


def test_score_prints_and_writes_by_format(tmp_path, tiny_model):
    make_images(tmp_path / "imgs", 3)
    args = ["score", str(tiny_model), str(tmp_path / "imgs")]
    by_format = runner.invoke(app, [*args, "--format", "json"])
    by_flag = runner.invoke(app, [*args, "--json"])
    assert by_format.exit_code == by_flag.exit_code == 0, by_format.output
    assert json.loads(by_format.stdout) == json.loads(by_flag.stdout)
    assert len(json.loads(by_format.stdout)) == 3

    named = tmp_path / "scores.txt"
    refused = runner.invoke(app, [*args, "-o", str(named)])
    assert refused.exit_code == 1 and "cannot tell the format from the file name" in one_line(
        refused
    )
    assert runner.invoke(app, [*args, "-o", str(named), "--format", "json"]).exit_code == 0
    assert [r["score"] for r in json.loads(named.read_text())] == [
        r["score"] for r in json.loads(by_format.stdout)
    ]
    csv_printed = runner.invoke(app, [*args, "--format", "csv"])
    assert csv_printed.exit_code == 1
    assert one_line(csv_printed) == (
        "Error: --format is text or json, not 'csv' (a CSV file is written with -o FILE)"
    )

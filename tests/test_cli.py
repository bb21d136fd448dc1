import json

import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()
COMMANDS = ["scan", "rate", "stats", "export", "import", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"], prog_name="tastemaker")
    assert result.exit_code == 0
    assert "Usage: tastemaker " + command in " ".join(result.output.split())


def test_every_command_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for command in COMMANDS:
        assert f"tastemaker {command}" in readme


def test_stats_json_has_the_documented_keys(tmp_path):
    make_images(tmp_path / "lib", 5)
    result = runner.invoke(app, ["stats", str(tmp_path / "lib"), "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["images"] == 5 and stats["uncompared"] == 5 and stats["comparisons"] == 0
    for key in ("per_image", "matched", "contradicted", "unpredicted", "agreement"):
        assert key in stats


def test_stats_text_names_unreadable_files(tmp_path):
    make_images(tmp_path / "lib", 3)
    (tmp_path / "lib" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    result = runner.invoke(app, ["stats", str(tmp_path / "lib")])
    assert result.exit_code == 0
    assert "Skipped broken.jpg: cannot be read as an image" in " ".join(result.output.split())
    assert "Images: 3 (3 never compared, 1 unreadable)" in result.output


def test_a_bad_folder_is_one_line_and_exit_code_1(tmp_path):
    result = runner.invoke(app, ["stats", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {tmp_path / 'nope'}: not a folder (give the folder that holds your images)"
    )
    assert "Traceback" not in result.output


def test_a_bad_import_file_is_one_line_and_changes_nothing(tmp_path):
    make_images(tmp_path / "lib", 3)
    bad = tmp_path / "score.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["import", str(tmp_path / "lib"), str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {bad}: not valid JSON")
    from tastemaker.storage.library import open_library

    with open_library(tmp_path / "lib") as lib:
        assert {r.prior_source for r in lib.store.ratings()} == {None}


def test_export_and_import_round_trip_through_the_cli(tmp_path):
    make_images(tmp_path / "lib", 4)
    out = tmp_path / "scores.csv"
    assert runner.invoke(app, ["export", str(tmp_path / "lib"), "-o", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[0].startswith("relative_path,score,comparisons")
    result = runner.invoke(app, ["import", str(tmp_path / "lib"), str(out)])
    assert result.exit_code == 0 and "Imported 4 scores" in result.output


def test_demo_generates_a_library(tmp_path):
    result = runner.invoke(
        app, ["demo", str(tmp_path / "demo"), "--count", "12", "--generate-only"]
    )
    assert result.exit_code == 0
    assert len(list((tmp_path / "demo").rglob("demo_*.*"))) == 12


def test_a_taken_port_given_explicitly_is_a_clear_error(tmp_path):
    import socket

    make_images(tmp_path / "lib", 3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["rate", str(tmp_path / "lib"), "--no-browser", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another --port" in " ".join(result.output.split())

"""Commands that only read a library never make one: a folder that is no library yet
(empty, without images, or any folder at all) gets one line saying how to start one."""

import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["stats", "--json"],
        ["export", "-o", "{out}/scores.csv"],
        ["export", "--comparisons", "-o", "{out}/choices.csv"],
        ["models"],
        ["recompute"],
    ],
)
@pytest.mark.parametrize("images", [0, 2])
def test_a_reading_command_does_not_make_a_library(tmp_path, command, images):
    folder = tmp_path / "photos"
    folder.mkdir()
    make_images(folder, images)
    name, *options = command
    options = [o.format(out=tmp_path) for o in options]
    result = runner.invoke(app, [name, str(folder), *options])
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        f"Error: {folder}: no tastemaker library here yet; start one with: tastemaker scan {folder}"
    )
    assert list(folder.iterdir()) == sorted(folder.glob("img*.png"))  # nothing made
    assert not list(tmp_path.glob("*.csv"))


def test_scan_starts_a_library_that_reading_commands_then_read(tmp_path):
    make_images(tmp_path / "photos", 2)
    assert runner.invoke(app, ["scan", str(tmp_path / "photos")]).exit_code == 0
    result = runner.invoke(app, ["stats", str(tmp_path / "photos")])
    assert result.exit_code == 0 and "Images: 2" in result.output


def test_a_store_kept_elsewhere_is_named_in_the_way_to_start(tmp_path):
    make_images(tmp_path / "photos", 2)
    store = tmp_path / "stores" / "photos"
    result = runner.invoke(app, ["stats", str(tmp_path / "photos"), "--store", str(store)])
    assert result.exit_code == 1
    assert f"tastemaker scan {tmp_path / 'photos'} --store {store}" in " ".join(
        result.output.split()
    )
    assert not store.exists()

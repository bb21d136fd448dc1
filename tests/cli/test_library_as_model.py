"""Every command that takes a model takes a library folder too: its latest model."""

import json
import socket

import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.api import resolve_model_path
from tastemaker.cli import app
from tastemaker.errors import TastemakerError
from tastemaker.storage.library import open_library

runner = CliRunner()


def one_line(result) -> str:
    return " ".join(result.output.split())


def library_with_model(folder, model) -> str:
    make_images(folder, 3, prefix="own")
    with open_library(folder) as library:
        library.scan()
        library.store.add_model(str(model), "tiny", "0", {})
    return str(folder)


def test_score_takes_a_library_folder(tmp_path, tiny_model):
    trained = library_with_model(tmp_path / "trained", tiny_model)
    make_images(tmp_path / "imgs", 3)
    by_file = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "imgs"), "--json"])
    by_library = runner.invoke(app, ["score", trained, str(tmp_path / "imgs"), "--json"])
    assert by_library.exit_code == 0, by_library.output
    assert json.loads(by_library.stdout) == json.loads(by_file.stdout)


def test_prior_and_rate_take_a_library_folder_as_model(tmp_path, tiny_model):
    trained = library_with_model(tmp_path / "trained", tiny_model)
    make_images(tmp_path / "lib", 4)
    result = runner.invoke(app, ["prior", str(tmp_path / "lib"), "--model", trained])
    assert result.exit_code == 0, result.output
    assert "Starting scores from tiny.safetensors for 4 never-compared images" in one_line(result)
    with socket.socket() as taken:  # rate stops at the port, after consulting the model
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["rate", str(tmp_path / "lib"), "--no-browser", "--port", port]
        result = runner.invoke(app, [*args, "--model", trained])
    assert "Model in the loop: tiny.safetensors" in one_line(result), result.output


def test_a_folder_without_a_model_is_one_line(tmp_path):
    make_images(tmp_path / "lib", 2)
    make_images(tmp_path / "imgs", 2)
    for args in (
        ["score", str(tmp_path / "imgs"), str(tmp_path / "imgs")],
        ["prior", str(tmp_path / "lib"), "--model", str(tmp_path / "imgs")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert one_line(result) == (
            f"Error: {tmp_path / 'imgs'}: no such model file (nor a library folder with a model)"
        )


def test_a_folder_holding_one_model_file_is_that_model(tmp_path, tiny_model):
    """As the Hugging Face hub hands a shared model back: a folder with one model file."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "README.md").write_text("a card")
    (tmp_path / "shared" / "taste.safetensors").write_bytes(tiny_model.read_bytes())
    make_images(tmp_path / "imgs", 3)
    by_file = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "imgs"), "--json"])
    by_folder = runner.invoke(
        app, ["score", str(tmp_path / "shared"), str(tmp_path / "imgs"), "--json"]
    )
    assert by_folder.exit_code == 0, by_folder.output
    assert json.loads(by_folder.stdout) == json.loads(by_file.stdout)


def test_a_folder_of_several_models_is_refused_not_guessed(tmp_path, tiny_model):
    for name in ("a", "b"):
        (tmp_path / f"{name}.safetensors").write_bytes(tiny_model.read_bytes())
    with pytest.raises(
        TastemakerError, match=r"holds 2 model files \(a.safetensors, b.safetensors\); give one$"
    ):
        resolve_model_path(tmp_path)

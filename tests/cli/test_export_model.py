"""``tastemaker export-model``: a library's model as a folder for the Hugging Face hub (the
model file, a card with YAML front matter, config.json), which loads back as a model."""

import dataclasses
import json

import pytest
import yaml
from conftest import make_images
from typer.testing import CliRunner

import tastemaker
from tastemaker.api import resolve_model_path
from tastemaker.cli import app
from tastemaker.model import read_model
from tastemaker.storage.library import open_library
from tastemaker.workflows.model_card import base_model, model_card

runner = CliRunner()


def front_matter(card: str) -> dict:
    """The YAML between the card's opening ``---`` lines, as the hub reads it."""
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.fixture
def exported(tmp_path, tiny_kernel_model):
    """A library whose latest model is the tiny kernel model, exported to ``shared``."""
    make_images(tmp_path / "lib", 3)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        library.store.add_model(str(tiny_kernel_model), "tiny", "0", {})
    dest = tmp_path / "shared" / "my-taste"
    result = runner.invoke(app, ["export-model", str(tmp_path / "lib"), str(dest)])
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == (
        f"Wrote my-taste.safetensors, README.md and config.json to {dest}"
    )
    return dest, tiny_kernel_model


def test_the_folder_is_what_the_hub_expects(exported):
    dest, _ = exported
    assert sorted(p.name for p in dest.iterdir()) == [
        "README.md",
        "config.json",
        "my-taste.safetensors",
    ]
    meta = front_matter((dest / "README.md").read_text())
    assert meta["license"] == "other"
    assert meta["library_name"] == "tastemaker"
    assert "tastemaker" in meta["tags"]
    assert "base_model" not in meta  # the tiny CLIP is a local folder, no hub id


def test_the_card_gives_the_models_own_figures(exported):
    dest, source = exported
    m = read_model(source).meta
    card = (dest / "README.md").read_text()
    assert f"- Images: {int(m.metrics['refit_images'])}\n" in card
    assert f"- Choices: {int(m.metrics['refit_choices'])}\n" in card
    assert f"- Extractor: `{m.extractor}`, layers 0\n" in card
    assert f"- Learner: kernel head, {m.loss} loss on the elo ratings\n" in card
    assert "pip install tastemaker\n" not in card  # no such package is published
    held = (
        f"- Held-out: agreement with the person's choices "
        f"{m.metrics['heldout_choice_agreement']:.3f} over {int(m.metrics['heldout_choices'])} "
        "choices\n"
    )
    assert held in card
    assert f"over {int(m.metrics['heldout_images'])} images" in card
    assert "## Limitations\n\nThis is one person's taste" in card
    config = json.loads((dest / "config.json").read_text())
    assert config["metrics"] == m.metrics and config["extractor"] == m.extractor


def test_the_folder_loads_back_and_scores_identically(exported, tiny_taste, tmp_path):
    dest, source = exported
    images = tiny_taste.paths[:6]
    assert tastemaker.load_model(dest).score(images) == tastemaker.load_model(source).score(images)
    by_folder = runner.invoke(app, ["score", str(dest), *map(str, images), "--json"])
    by_file = runner.invoke(app, ["score", str(source), *map(str, images), "--json"])
    assert by_folder.exit_code == 0, by_folder.output
    assert json.loads(by_folder.stdout) == json.loads(by_file.stdout)


def test_an_existing_folder_is_kept_without_force(exported, tiny_model):
    dest, _ = exported
    card = (dest / "README.md").read_text()
    result = runner.invoke(app, ["export-model", str(tiny_model), str(dest)])
    assert result.exit_code == 1
    assert result.output == f"Error: {dest}: already exists; give --force to replace the export\n"
    assert (dest / "README.md").read_text() == card
    args = ["export-model", str(tiny_model), str(dest), "--force", "--license", "mit"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert front_matter((dest / "README.md").read_text())["license"] == "mit"
    assert read_model(resolve_model_path(dest)).meta.architecture == "mlp"


def test_force_replaces_an_export_even_from_itself_and_nothing_else(exported):
    dest, source = exported
    result = runner.invoke(app, ["export-model", str(dest), str(dest), "--force"])
    assert result.exit_code == 0, result.output
    images = [str(p) for p in sorted(source.parent.glob("images/*.png"))[:4]]
    assert tastemaker.load_model(dest).score(images) == tastemaker.load_model(source).score(images)
    (dest / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["export-model", str(source), str(dest), "--force"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {dest}: holds files an export does not write (notes.txt); choose another folder\n"
    )
    assert (dest / "notes.txt").read_text() == "mine" and (dest / "my-taste.safetensors").exists()


def test_errors_are_one_line(tmp_path, tiny_model):
    make_images(tmp_path / "imgs", 2)
    result = runner.invoke(app, ["export-model", str(tmp_path / "imgs"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'imgs'}: no such model file (nor a library folder with a model)\n"
    )
    result = runner.invoke(
        app, ["export-model", str(tiny_model), str(tmp_path / "imgs" / "img000.png")]
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error:") and not (tmp_path / "out").exists()


def test_a_hub_extractor_is_the_cards_base_model(tiny_model):
    meta = dataclasses.replace(read_model(tiny_model).meta, extractor="facebook/dinov2-base")
    front = front_matter(model_card(meta, "taste.safetensors", "mit"))
    assert front["base_model"] == "facebook/dinov2-base" and front["license"] == "mit"


def test_base_model_is_a_hub_id_only():
    assert base_model("openai/clip-vit-large-patch14") == "openai/clip-vit-large-patch14"
    assert base_model("efficientnet-lite0") is None

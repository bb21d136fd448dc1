"""Workflows the CLI only translates: the demo library and the model in the loop."""

from pathlib import Path

from tastemaker.features.layers import LayerChoice
from tastemaker.storage.library import open_library
from tastemaker.workflows.demo import make_demo_library
from tastemaker.workflows.score import model_in_the_loop
from tastemaker.workflows.train import default_extractor, default_layers


def test_the_demo_library_trains_offline_and_is_made_once(tmp_path: Path):
    heard = []
    folder = tmp_path / "demo"
    assert make_demo_library(folder, 3, progress=lambda *report: heard.append(report))
    assert heard[-1] == ("Generating demo images", 3, 3)
    with open_library(folder) as library:
        assert default_extractor(library) == "efficientnet-lite0"
        assert default_layers(library) == LayerChoice((2, 3, 4))
        assert len(library.scan().unreadable) == 0 and library.scan().present == 3
    assert not make_demo_library(folder, 5)  # already there: left as it is
    assert len([p for p in folder.rglob("*") if p.is_file() and ".tastemaker" not in p.parts]) == 3


def test_the_model_in_the_loop_is_the_one_given_else_the_newest(library, tiny_model):
    assert model_in_the_loop(library, None) is None  # no model yet: rate without one
    given = model_in_the_loop(library, tiny_model)
    assert given.path == tiny_model and len(given.scored.scores) == 10
    library.store.add_model(str(tiny_model), "tiny", "0", {})
    newest = model_in_the_loop(library, None)
    assert newest.path == tiny_model and newest.scored.scores == given.scored.scores
    assert given.scored.uncertainties == {}  # an MLP has none


def test_the_model_in_the_loop_gives_its_uncertainties_for_the_gallery(library, tiny_kernel_model):
    scored = model_in_the_loop(library, tiny_kernel_model).scored
    assert set(scored.uncertainties) == set(scored.scores) and len(scored.scores) == 10
    assert all(u > 0 for u in scored.uncertainties.values())

"""The whole loop offline, as a user runs it: rate (simulated person) -> train on real
pretrained features (the bundled EfficientNet-Lite0) -> score -> prior."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.model import read_model
from tastemaker.rating.prior import prior_scores
from tastemaker.rating.ranks import spearman
from tastemaker.storage.library import open_library
from tastemaker.training.split import heldout_mask
from tastemaker.workflows.demo_images import demo_taste, generate_demo_images
from tastemaker.workflows.rate import RateSession
from tastemaker.workflows.score import library_model_scores

runner = CliRunner()
pytestmark = pytest.mark.slow  # a real backbone over 160 images


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A demo library of 160 images, rated 3 choices per image by a person whose taste
    is what the images show (warm, round, moderately busy)."""
    folder = tmp_path_factory.mktemp("loop") / "demo"
    images = generate_demo_images(folder, 160, seed=3)
    truth = {im.path.relative_to(folder).as_posix(): demo_taste(im) for im in images}
    rng = np.random.default_rng(0)
    with open_library(folder) as library:
        library.scan()
        session = RateSession(library, seed=0)
        for _ in range(480):
            shown = session.next_set()
            u = [truth[im.path] for im in shown.images]
            p_first = 1 / (1 + np.exp(-6 * (u[0] - u[1])))
            winner = shown.images[0 if rng.random() < p_first else 1]
            session.choose(shown.token, winner.id, 600)
    return folder, truth


@pytest.fixture(scope="module")
def trained(rated):
    """The rated library with a model trained by ``train``, and what ``train`` printed."""
    folder, truth = rated
    result = runner.invoke(app, ["train", str(folder), "--extractor", "efficientnet-lite0"])
    assert result.exit_code == 0, result.output
    return folder, truth, result.output


def test_train_score_prior_models_offline(trained, tmp_path):
    folder, truth, printed = trained
    assert "Model saved:" in printed
    with open_library(folder) as library:
        (record,) = library.store.models()
    model = read_model(record.path)
    assert model.meta.extractor == "efficientnet-lite0"
    assert model.meta.architecture == "kernel" and model.meta.ratings == "bt"  # the defaults
    assert model.meta.metrics["heldout_choice_agreement"] > 0.55
    assert model.meta.metrics["refit_images"] == 160  # the saved model learnt from every image
    assert model.meta.calibration is not None and model.meta.calibration > 0

    # on images it never trained on, the model orders fresh pairs as the person's taste
    # does far more often than chance (0.5); a model that learnt nothing fails this
    with open_library(folder) as library:
        present = library.store.images("present")
        scores = library_model_scores(library, model).scores
    held = [
        im
        for im, out in zip(present, heldout_mask([im.hash for im in present]), strict=True)
        if out
    ]
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(held), (2, 3000))
    model_says = np.array(
        [scores[held[i].id] > scores[held[j].id] for i, j in zip(a, b, strict=True)]
    )
    truth_says = np.array(
        [truth[held[i].path] > truth[held[j].path] for i, j in zip(a, b, strict=True)]
    )
    assert np.mean(model_says[a != b] == truth_says[a != b]) > 0.62

    # score the library's folder: the held-out truth is recovered from real features
    out = tmp_path / "scores.json"
    shapes = folder / "shapes"
    result = runner.invoke(app, ["score", record.path, str(shapes), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == len(list(shapes.iterdir()))
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    by_path = {str(p): s for p, s in ((r["path"], r["score"]) for r in rows)}
    paths = [p for p in truth if p.startswith("shapes/")]
    scores = np.array([by_path[str(folder / p)] for p in paths])
    assert spearman(scores, np.array([truth[p] for p in paths])) > 0.5

    result = runner.invoke(app, ["models", str(folder)])
    assert result.exit_code == 0
    assert "efficientnet-lite0" in result.output and record.path[-20:] in "".join(
        result.output.split()
    )


def test_prior_gives_new_images_the_models_guess(trained, tmp_path):
    folder = shutil.copytree(trained[0], tmp_path / "demo")  # the new images stay here
    new = generate_demo_images(folder / "new", 40, seed=99)
    result = runner.invoke(app, ["prior", str(folder)])
    assert result.exit_code == 0, result.output
    assert "for 40 never-compared images" in " ".join(result.output.split())
    with open_library(folder) as library:
        (record,) = library.store.models()
        scored = library_model_scores(library, read_model(record.path)).scores
        ratings = {r.image_id: r for r in library.store.ratings()}
        ids = list(scored)
        compared = np.array([ratings[i].comparisons > 0 for i in ids])
        elo = np.array([ratings[i].elo for i in ids])
        # the seed's rule, applied by hand to the same model scores
        expected = prior_scores(np.array([scored[i] for i in ids]), compared, elo)
        fresh = [ratings[i] for i, c in zip(ids, compared, strict=True) if not c]
        assert len(fresh) == 40
        assert [r.prior for r in fresh] == pytest.approx(expected.tolist())
        assert all(r.prior_source.startswith("model:") for r in fresh)
        assert all(r.elo == r.prior and r.comparisons == 0 for r in fresh)
        assert np.std([r.prior for r in fresh]) == pytest.approx(np.std(elo[compared]))
        by_path = {im.path.relative_to(folder).as_posix(): demo_taste(im) for im in new}
        truth = np.array([by_path[r.path] for r in fresh])
        assert spearman(np.array([r.prior for r in fresh]), truth) > 0.2

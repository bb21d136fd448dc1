"""Bradley-Terry ratings over a library's comparisons, beside the seed's Elo."""

import csv
import json

import numpy as np
import pytest
from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.rating import bradley_terry
from tastemaker.rating.ranks import spearman
from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import RateSession
from tastemaker.workflows.ratings import ELO_TO_BT, database_scores, fit_bt

runner = CliRunner()


@pytest.fixture
def rated(tmp_path):
    """30 images rated 8 choices per image by a person who prefers higher indices."""
    folder = tmp_path / "lib"
    make_images(folder, 30)
    with open_library(folder) as lib:
        lib.scan()
        truth = {im.id: int(im.path[3:6]) for im in lib.store.images()}
        rng = np.random.default_rng(0)
        session = RateSession(lib, seed=1)
        for _ in range(240):
            s = session.next_set()
            a, b = s.images
            p_a = 1 / (1 + np.exp(-0.3 * (truth[a.id] - truth[b.id])))
            session.choose(s.token, (a if rng.random() < p_a else b).id)
    return folder, truth


def test_bt_recovers_the_order_better_than_it_would_by_chance(rated):
    folder, truth = rated
    with open_library(folder) as lib:
        bt = fit_bt(lib.store)
        ids = sorted(truth)
        rho = spearman(np.array([bt.ratings[i] for i in ids]), np.array([truth[i] for i in ids]))
        assert rho > 0.9
        assert all(0 < bt.sd[i] < 2.0 for i in ids)  # data shrank every prior sd of 2


def test_priors_become_bt_prior_means(tmp_path):
    folder = tmp_path / "lib"
    make_images(folder, 3)
    with open_library(folder) as lib:
        lib.scan()
        ids = [im.id for im in lib.store.images()]
        lib.store.set_priors({ids[0]: (0.5, 0)}, "test")
        bt = fit_bt(lib.store)  # no comparisons: the fit is the prior
        assert bt.ratings[ids[0]] == pytest.approx(0.5 * ELO_TO_BT)
        assert bt.ratings[ids[1]] == pytest.approx(0.0)


def test_export_carries_bt_beside_elo_and_stats_can_use_bt(rated, tmp_path):
    folder, _ = rated
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["export", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    with open_library(folder) as lib:
        bt = database_scores(lib.store, "bt")
        sd = fit_bt(lib.store).sd
        elo = {r.path: r.elo for r in lib.store.ratings()}
        by_path = {im.path: im.id for im in lib.store.images()}
    assert [float(r["score"]) for r in rows] == sorted(elo.values(), reverse=True)
    for row in rows:  # the score stays the seed's Elo; Bradley-Terry is beside it
        image_id = by_path[row["relative_path"]]
        assert float(row["score"]) == elo[row["relative_path"]]
        assert float(row["bt_rating"]) == pytest.approx(bt[image_id])
        assert float(row["bt_sd"]) == pytest.approx(sd[image_id])
    result = runner.invoke(app, ["stats", str(folder), "--json", "--ratings", "bt"])
    stats = json.loads(result.stdout)
    assert stats["ratings"] == "bt" and len(stats["best"]) == 5
    assert stats["best"][0]["score"] == pytest.approx(max(bt.values()))
    bad = runner.invoke(app, ["stats", str(folder), "--ratings", "glicko"])
    assert bad.exit_code == 1 and "--ratings is one of elo, bt" in bad.output


def test_a_failed_fit_is_one_line_that_says_what_to_use_instead(rated, monkeypatch, tmp_path):
    folder, _ = rated

    def fails(*args, **kwargs):
        raise bradley_terry.FitFailed("Bradley-Terry fit did not converge after 100 iterations")

    monkeypatch.setattr(bradley_terry, "fit", fails)
    result = runner.invoke(app, ["stats", str(folder), "--ratings", "bt"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert " ".join(result.output.split()) == (
        "Error: Bradley-Terry fit did not converge after 100 iterations; the classic Elo "
        "scores are there meanwhile: --ratings elo"
    )
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["export", str(folder), "-o", str(out)])
    assert result.exit_code == 0  # the Elo scores need no fit
    assert result.stdout.startswith("Wrote 30 scores to ")
    assert result.stderr == (
        "The Bradley-Terry columns are empty: Bradley-Terry fit did not converge after 100 "
        "iterations.\n"
    )

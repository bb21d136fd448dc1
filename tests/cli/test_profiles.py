"""Profiles through the CLI and the Python API: two tastes in one library, each with its
own choices, ratings and models, never counted, exported, undone or trained on under the
other; the images and their embeddings are shared."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import make_images
from rated import rate
from typer.testing import CliRunner

import tastemaker
from tastemaker.cli import app
from tastemaker.workflows.rate import NothingToUndo, RateSession

runner = CliRunner()


def run(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def two_tastes(tmp_path: Path) -> Path:
    """Eight images; alice prefers low ids (6 choices), bob high ids (4 choices)."""
    folder = tmp_path / "photos"
    make_images(folder, 8)
    with tastemaker.open_library(folder, scan=True, profile="alice") as alice:
        rate(alice, 6, batch=3).close()
    with tastemaker.open_library(folder, profile="bob") as bob:
        rate(bob, 4, batch=10, taste=lambda image_id: -image_id).close()
    return folder


def choices_of(folder: Path, profile: str) -> int:
    stats = json.loads(run("stats", folder, "--json", "--profile", profile))
    return stats["choices"]


def test_each_profile_counts_only_its_own_choices(two_tastes):
    assert choices_of(two_tastes, "alice") == 6
    assert choices_of(two_tastes, "bob") == 4
    assert choices_of(two_tastes, "default") == 0
    assert "Choices: 0" in run("stats", two_tastes)  # one taste: nothing changes


def test_stats_names_the_profile_and_counts_its_own_batches(two_tastes):
    with tastemaker.open_library(two_tastes, profile="carol") as carol:
        rate(carol, 4, batch=2).close()  # after alice's two batches and bob's one
    text = run("stats", two_tastes, "--profile", "carol")
    assert text.startswith("Profile: carol\n")
    assert "  #1: 2 choices" in text and "  #2: 2 choices" in text and "#3" not in text
    stats = json.loads(run("stats", two_tastes, "--profile", "carol", "--json"))
    assert stats["profile"] == "carol"
    assert not run("stats", two_tastes).startswith("Profile")  # one taste: nothing changes


def test_export_and_import_keep_to_the_profile(two_tastes, tmp_path):
    out = tmp_path / "alice.csv"
    assert "Wrote 6 pairwise outcomes" in run(
        "export", two_tastes, "--comparisons", "-o", out, "--profile", "alice"
    )
    with out.open() as f:
        rows = list(csv.DictReader(f))
    with tastemaker.open_library(two_tastes, profile="alice") as alice:
        path = {im.id: im.path for im in alice.store.images()}
        made = [
            (path[c.winner_id], path[c.shown[1 - c.shown.index(c.winner_id)]])
            for c in alice.store.comparisons()
        ]
    assert [(r["winner"], r["loser"]) for r in rows] == made
    # a copy of alice's choices, taken up by carol: alice's and bob's stay as they were
    assert "Imported 6 choices" in run("import", two_tastes, out, "--profile", "carol")
    assert "Imported 0 choices" in run("import", two_tastes, out, "--profile", "alice")
    assert [choices_of(two_tastes, p) for p in ("alice", "bob", "carol")] == [6, 4, 6]


def test_recompute_and_priors_change_only_the_profile(two_tastes, tmp_path):
    with tastemaker.open_library(two_tastes, profile="alice") as alice:
        before = alice.store.ratings(status=None)
    run("recompute", two_tastes, "--weight-by-speed", "--typical-seconds", 0.2, "--profile", "bob")
    scores = tmp_path / "scores.csv"
    scores.write_text("relative_path,score,comparisons\nimg000.png,3.0,5\n")
    run("import", two_tastes, scores, "--profile", "bob")
    with tastemaker.open_library(two_tastes, profile="alice") as alice:
        assert alice.store.ratings(status=None) == before
    with tastemaker.open_library(two_tastes, profile="bob") as bob:
        assert {c.weight for c in bob.store.comparisons()} == {0.5}
        assert {r.path: r.prior for r in bob.store.ratings()}["img000.png"] == 3.0


def test_a_choice_is_never_undone_under_another_profile(two_tastes):
    with tastemaker.open_library(two_tastes, profile="alice") as alice:
        alices = alice.store.comparisons()[-1].id
    with tastemaker.open_library(two_tastes, profile="bob") as bob:
        session = RateSession(bob)
        with pytest.raises(NothingToUndo):
            session.undo(alices)
        session.close()
    with tastemaker.open_library(two_tastes, profile="alice") as alice:
        assert alice.store.comparisons()[-1].id == alices


def test_a_profile_never_rated_is_one_line_for_a_reading_command(two_tastes):
    for command in (["stats"], ["models"], ["export", "-o", two_tastes.parent / "x.csv"]):
        args = [command[0], two_tastes, *command[1:], "--profile", "carl"]
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 1
        assert " ".join(result.output.split()) == (
            f"Error: {two_tastes / '.tastemaker' / 'library.db'}: no profile 'carl' here "
            "(there are: alice, bob, default); rate under it first, or give another --profile"
        )
    result = runner.invoke(app, ["rate", str(two_tastes), "--profile", "Bad Name"])
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        "Error: --profile 'Bad Name': a profile's name is 1 to 32 lowercase letters, "
        "digits, - or _, starting with a letter or digit"
    )


def test_models_lists_the_profile_s_own(two_tastes):
    assert run("models", two_tastes, "--profile", "bob").strip() == (
        f"No models yet: tastemaker train {two_tastes} --profile bob"
    )


def test_each_profile_trains_its_own_model_from_one_embedding_of_each_image(tmp_path, tiny_clip):
    folder = tmp_path / "photos"
    make_images(folder, 16)
    for profile, taste in (("alice", lambda i: i), ("bob", lambda i: -i)):
        with tastemaker.open_library(folder, scan=True, profile=profile) as library:
            rate(library, 40, batch=40, taste=taste).close()
    alice = run("train", folder, "--extractor", tiny_clip, "--profile", "alice")
    bob = run("train", folder, "--extractor", tiny_clip, "--profile", "bob")
    assert "Embeddings: 16 images (16 extracted)" in alice
    assert "Embeddings: 16 images (16 from cache)" in bob  # no image embedded twice
    models = folder / ".tastemaker" / "models"
    (alices,) = (models / "alice").glob("*.safetensors")
    (bobs,) = (models / "bob").glob("*.safetensors")
    assert f"Model saved: {alices}" in " ".join(alice.split())
    for profile, path in (("alice", alices), ("bob", bobs)):
        with tastemaker.open_library(folder, profile=profile) as library:
            assert [m.path for m in library.store.models()] == [str(path)]
        assert tastemaker.load_model(folder, profile=profile).source == path
    with tastemaker.open_library(folder) as library:
        assert library.store.models() == []  # the default profile trained nothing
    # each model learnt its own profile's taste: opposite orders of the same images
    images = sorted(folder.glob("*.png"))
    a = tastemaker.load_model(alices).score(images)
    b = tastemaker.load_model(bobs).score(images)
    assert sum(x * y for x, y in zip(a, b, strict=True)) < 0
    compared = run("stats", folder, "--compare", "alice", "bob")
    assert f"Models ({alices.name}, {bobs.name}), on 16 images: " in compared
    models = json.loads(run("stats", folder, "--compare", "alice", "bob", "--json"))["models"]
    assert models["images"] == 16 and models["pairwise"] < 0.5 and models["spearman"] < 0


def test_stats_compare_says_how_alike_two_tastes_are(two_tastes, tmp_path):
    out = tmp_path / "alice.csv"
    run("export", two_tastes, "--comparisons", "-o", out, "--profile", "alice")
    run("import", two_tastes, out, "--profile", "carol")  # carol chose as alice did
    same = json.loads(run("stats", two_tastes, "--compare", "alice", "carol", "--json"))
    assert same["choices"] == [6, 6]
    assert same["databases"]["pairwise"] == 1.0 and same["databases"]["spearman"] == 1.0
    assert same["foreseen"][0] == same["foreseen"][1]
    assert same["models"] is None
    text = run("stats", two_tastes, "--compare", "alice", "carol").splitlines()
    n = same["databases"]["images"]
    assert text[:2] == [
        "Profiles alice and carol: 6 and 6 choices",
        f"Databases, on the {n} images both compared: 100.0% of pairs in the same order, "
        "Spearman 1.00",
    ]
    assert text[-1] == "Models: train one under each profile to compare them"
    unlike = json.loads(run("stats", two_tastes, "--compare", "alice", "bob", "--json"))
    assert unlike["choices"] == [6, 4]
    assert unlike["databases"]["pairwise"] < 0.5 and unlike["databases"]["spearman"] < 0
    assert unlike["foreseen"][0]["agreement"] < 0.5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["alice", "alice"], "--compare: give two different profiles, not alice twice"),
        (["alice", "carl"], "no profile 'carl' here"),
        (["alice", "bob", "--profile", "bob"], "--compare A B names both profiles and prints"),
    ],
)
def test_stats_compare_refuses_in_one_line(two_tastes, args, said):
    result = runner.invoke(app, ["stats", str(two_tastes), "--compare", *args])
    assert result.exit_code == 1 and said in " ".join(result.output.split())
    assert "Traceback" not in result.output

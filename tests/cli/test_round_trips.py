"""Every file the tool writes, it reads back: scores and choices exported as CSV or JSON
(by --format or by the file name, the same for every writer), and `score -o`'s output."""

import csv
import json
import shutil

import pytest
from conftest import make_images
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.storage.library import open_library

runner = CliRunner()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def rated_library(folder, choices=12):
    make_images(folder, 6)
    with open_library(folder) as library:
        library.scan()
        rate(library, choices, batch=100).close()
    return folder


def stored_choices(folder) -> list[tuple[str, frozenset[str], str]]:
    """Each choice as (made at, images shown, image chosen), images by content."""
    from tastemaker.workflows.scores_file import iso_utc

    with open_library(folder) as library:
        store = library.store
        hashes = {im.id: im.hash for im in store.images()}
        return sorted(
            (iso_utc(c.made_at), frozenset(hashes[i] for i in c.shown), hashes[c.winner_id])
            for c in store.comparisons()
        )


def elo_by_hash(folder) -> dict[str, float]:
    with open_library(folder) as library:
        hashes = {im.id: im.hash for im in library.store.images()}
        return {hashes[r.image_id]: r.elo for r in library.store.ratings()}


@pytest.mark.parametrize(
    ("name", "options", "fmt"),
    [
        ("choices.json", [], "json"),
        ("choices.csv", [], "csv"),
        ("choices.txt", ["--format", "json"], "json"),
        ("choices.json", ["--format", "csv"], "csv"),
    ],
)
def test_comparisons_export_as_the_name_or_format_says(tmp_path, name, options, fmt):
    lib = rated_library(tmp_path / "lib", 4)
    out = tmp_path / name
    said = ok("export", str(lib), "--comparisons", "-o", str(out), *options)
    assert said == f"Wrote 4 pairwise outcomes to {out}"
    text = out.read_text()
    if fmt == "json":
        records = json.loads(text)
        assert len(records) == 4
        assert list(records[0]) == [
            "comparison_id",
            "made_at",
            "winner",
            "loser",
            "response_ms",
            "session_id",
        ]
        assert records[0]["response_ms"] == 400 and records[0]["winner"].endswith(".png")
    else:
        rows = list(csv.reader(text.splitlines()))
        assert rows[0][:4] == ["comparison_id", "made_at", "winner", "loser"] and len(rows) == 5


def test_a_name_that_tells_no_format_is_refused_before_anything(tmp_path):
    lib = rated_library(tmp_path / "lib", 2)
    for args in (["export", str(lib)], ["export", str(lib), "--comparisons"]):
        result = runner.invoke(app, [*args, "-o", str(tmp_path / "out.txt")])
        assert result.exit_code == 1
        assert "cannot tell the format from the file name" in result.output
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_choices_import_into_another_library_once(tmp_path, suffix):
    source = rated_library(tmp_path / "source")
    out = tmp_path / f"choices{suffix}"
    ok("export", str(source), "--comparisons", "-o", str(out))
    target = tmp_path / "target"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".tastemaker"))
    ok("scan", str(target))

    said = ok("import", str(target), str(out))
    assert said == f"Imported 12 choices from {out} (0 already in the library)"
    assert stored_choices(target) == stored_choices(source)
    assert elo_by_hash(target) == pytest.approx(elo_by_hash(source))  # replayed the same

    again = ok("import", str(target), str(out))
    assert again == f"Imported 0 choices from {out} (12 already in the library)"
    home = ok("import", str(source), str(out))  # into the library it came from
    assert home == f"Imported 0 choices from {out} (12 already in the library)"
    assert stored_choices(target) == stored_choices(source)


def test_choices_import_keeps_an_undo_and_adds_only_what_is_missing(tmp_path):
    lib = rated_library(tmp_path / "lib", 6)
    out = tmp_path / "choices.csv"
    ok("export", str(lib), "--comparisons", "-o", str(out))
    with open_library(lib) as library:
        session = rate(library, 2, batch=100)  # two more, then one of them undone
        session.undo()
        session.close()
        withdrawn = library.store.comparisons(include_withdrawn=True)[-1]
        kept = library.store.comparisons()
    assert withdrawn.withdrawn_at is not None and len(kept) == 7
    later = tmp_path / "later.json"
    with open_library(lib) as library:  # everything, as another library would hold it
        from tastemaker.workflows.choices_file import export_comparisons

        export_comparisons(library, later)
    records = json.loads(later.read_text())
    lines = out.read_text().splitlines()
    assert len(lines) == 7 and len(records) == 7  # the undone choice is not exported

    fresh = tmp_path / "fresh"
    shutil.copytree(lib, fresh, ignore=shutil.ignore_patterns(".tastemaker"))
    ok("scan", str(fresh))
    assert ok("import", str(fresh), str(out)).startswith("Imported 6 choices")
    assert ok("import", str(fresh), str(later)) == (
        f"Imported 1 choices from {later} (6 already in the library)"
    )
    assert stored_choices(fresh) == stored_choices(lib)
    with open_library(lib) as library:  # the library whose undo the file lacks
        before = library.store.comparisons(include_withdrawn=True)
    assert ok("import", str(lib), str(out)).startswith("Imported 0 choices")
    with open_library(lib) as library:
        assert library.store.comparisons(include_withdrawn=True) == before


def test_choices_of_images_not_in_the_library_are_left_out_and_named(tmp_path):
    lib = rated_library(tmp_path / "lib", 12)
    out = tmp_path / "choices.csv"
    ok("export", str(lib), "--comparisons", "-o", str(out))
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(lib / "img000.png", other / "img000.png")
    ok("scan", str(other))
    said = ok("import", str(other), str(out))
    assert said.startswith(f"Imported 0 choices from {out} (0 already in the library)")
    assert "12 choices left out: they show images not in the library (img001.png" in said


def test_a_choices_file_with_a_bad_time_is_one_line_and_changes_nothing(tmp_path):
    lib = rated_library(tmp_path / "lib", 2)
    bad = tmp_path / "choices.csv"
    bad.write_text("made_at,winner,loser\nyesterday,img000.png,img001.png\n")
    result = runner.invoke(app, ["import", str(lib), str(bad)])
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        f"Error: {bad}: line 2 has a made_at that is not a date and time ('yesterday')."
    )
    assert len(stored_choices(lib)) == 2


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_score_output_imports_as_starting_scores_of_never_compared_images(
    tmp_path, tiny_model, suffix
):
    lib = tmp_path / "lib"
    make_images(lib, 6)
    ok("scan", str(lib))
    with open_library(lib) as library:
        rate(library, 1, batch=100).close()  # two images compared, four never
        compared = {r.path: r.elo for r in library.store.ratings() if r.comparisons}
    out = tmp_path / f"scores{suffix}"
    ok("score", str(tiny_model), str(lib), "-o", str(out))
    said = ok("import", str(lib), str(out))
    assert said == (
        f"Imported 4 model scores from {out} as starting scores of never-compared images; "
        "2 compared images left as they are"
    )
    with open_library(lib) as library:
        ratings = {r.path: r for r in library.store.ratings()}
    assert {p: ratings[p].elo for p in compared} == compared
    fresh = [r for r in ratings.values() if not r.comparisons]
    assert {r.prior_source for r in fresh} == {f"import:scores{suffix}"}
    assert len({r.prior for r in fresh}) == 4  # the model's order, not zeros


def test_score_output_with_paths_from_here_matches_the_library(tmp_path, tiny_model, monkeypatch):
    lib = tmp_path / "lib"
    make_images(lib, 3)
    ok("scan", str(lib))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "scores.csv"
    ok("score", str(tiny_model), "lib/img000.png", "lib/img001.png", "-o", str(out))
    assert "lib/img000.png" in out.read_text()  # relative to where score ran
    said = ok("import", str(lib), str(out))
    assert said.startswith(f"Imported 2 model scores from {out}")


@pytest.mark.parametrize("name", ["scores.csv", "scores.json", "scores.txt"])
def test_score_exports_import_back_unchanged(tmp_path, name):
    lib = rated_library(tmp_path / "lib")
    out = tmp_path / name
    options = ["--format", "json"] if name.endswith(".txt") else []
    ok("export", str(lib), "-o", str(out), *options)
    before = elo_by_hash(lib)
    assert ok("import", str(lib), str(out)) == f"Imported 6 scores from {out}"
    assert elo_by_hash(lib) == before

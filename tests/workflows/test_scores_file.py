"""Exports of scores and choices, and the import of the seed's score files."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from tastemaker import __version__
from tastemaker.errors import TastemakerError
from tastemaker.rating import bradley_terry
from tastemaker.storage.library import Library, open_library
from tastemaker.workflows.choices_file import export_comparisons
from tastemaker.workflows.rate import RateSession, RateSettings
from tastemaker.workflows.ratings import ELO_TO_BT, recompute_elo, replay_elo
from tastemaker.workflows.scores_file import (
    BT_SCALE,
    ImportReport,
    ScoresExport,
    export_scores,
    import_scores,
)

COLOURS = {
    "a.png": (255, 0, 0),
    "b.png": (0, 255, 0),
    "sub/c.png": (0, 0, 255),
    "sub/d.png": (255, 255, 0),
}


def make_folder(folder: Path) -> Path:
    for relative, colour in COLOURS.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), colour).save(path)
    return folder


def scanned(folder: Path) -> Library:
    library = open_library(folder)
    library.scan()
    return library


@pytest.fixture
def library(tmp_path: Path):
    with scanned(make_folder(tmp_path / "images")) as library:
        yield library


def ids(library: Library) -> dict[str, int]:
    return {image.path: image.id for image in library.store.images()}


def rating(library: Library, path: str):
    return next(r for r in library.store.ratings(None) if r.path == path)


def set_scores(library: Library, scores: dict[str, tuple[float, int]]) -> None:
    by_path = ids(library)
    store = library.store
    store.set_priors({by_path[p]: v for p, v in scores.items()}, source="test")
    recompute_elo(store)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def choose(session: RateSession, position: int, response_ms: int | None = 500):
    shown = session.next_set()
    choice = session.choose(shown.token, shown.images[position].id, response_ms)
    return choice, [image.path for image in shown.images]


SCORES = {"a.png": (1.5, 4), "b.png": (-0.5, 2), "sub/c.png": (0.25, 0), "sub/d.png": (0.0, 1)}
BEST_FIRST = ["a.png", "sub/c.png", "sub/d.png", "b.png"]


# -- export_scores ---------------------------------------------------------------------


def test_export_scores_csv(library: Library, tmp_path: Path) -> None:
    set_scores(library, SCORES)
    out = tmp_path / "scores.csv"
    assert export_scores(library, out) == ScoresExport(4)
    rows = read_csv(out)
    assert rows[0] == [
        "relative_path",
        "score",
        "comparisons",
        "hash",
        "prior",
        "prior_comparisons",
        "bt_rating",
        "bt_sd",
    ]
    hashes = {image.path: image.hash for image in library.store.images()}
    assert [row[:6] for row in rows[1:]] == [
        [p, str(s), str(n), hashes[p], str(s), str(n)] for p in BEST_FIRST for s, n in [SCORES[p]]
    ]
    # no choices yet: the Bradley-Terry fit is its prior, the score on the natural-log scale
    assert [float(row[6]) for row in rows[1:]] == pytest.approx(
        [SCORES[p][0] * ELO_TO_BT for p in BEST_FIRST]
    )
    assert [float(row[7]) for row in rows[1:]] == pytest.approx([bradley_terry.PRIOR_SD] * 4)


def test_export_scores_counts_choices_and_priors(library: Library, tmp_path: Path) -> None:
    set_scores(library, SCORES)
    session = RateSession(library, RateSettings(choices=2), seed=0)
    for _ in range(5):
        choose(session, 0)
    out = tmp_path / "scores.csv"
    export_scores(library, out)
    stored = sorted(library.store.ratings(), key=lambda r: -r.elo)
    rows = read_csv(out)[1:]
    assert [row[0] for row in rows] == [r.path for r in stored]
    assert [float(row[1]) for row in rows] == [r.elo for r in stored]
    assert [int(row[2]) for row in rows] == [r.comparisons + r.prior_comparisons for r in stored]
    assert sum(int(row[2]) for row in rows) == 5 * 2 + sum(n for _, n in SCORES.values())


def test_export_scores_json(library: Library, tmp_path: Path) -> None:
    set_scores(library, SCORES)
    out = tmp_path / "scores.json"
    assert export_scores(library, out) == ScoresExport(4)
    document = json.loads(out.read_text(encoding="utf-8"))
    records = document["ImageRecords"]
    assert list(records) == BEST_FIRST
    assert records["sub/c.png"] == {
        "relative_filepath": "sub/c.png",
        "relative_path": "sub/c.png",
        "score": 0.25,
        "comparisons": 0,
        "hash": {image.path: image.hash for image in library.store.images()}["sub/c.png"],
        "prior": 0.25,
        "prior_comparisons": 0,
        "bt_rating": pytest.approx(0.25 * ELO_TO_BT),
        "bt_sd": pytest.approx(bradley_terry.PRIOR_SD),
    }
    assert {p: (r["score"], r["comparisons"]) for p, r in records.items()} == SCORES
    metadata = document["Metadata"]
    assert metadata["exported_by"] == f"tastemaker {__version__}"
    assert metadata["images"] == 4
    assert metadata["bt"] == BT_SCALE
    assert datetime.fromisoformat(metadata["exported_at"]).tzinfo is not None


class SeedImageRecord:
    """What the seed's rating window (image_comparison, ``modules/scoring.py``) makes of
    each record of a score file it opens: it asserts ``relative_path``, then reads the
    score as a float and the comparisons as an int; its saves write them back as text."""

    def __init__(self, **columns: object) -> None:
        assert "relative_path" in columns
        self.columns = {"comparisons": 0, "score": 0.0} | columns
        self.score = float(str(self.columns["score"]))
        self.comparisons = int(str(self.columns["comparisons"]))

    def saved(self, score: float, comparisons: int) -> dict[str, object]:
        return self.columns | {"score": str(score), "comparisons": str(comparisons)}


def test_the_seed_window_opens_the_json_export_and_its_save_imports_back(
    library: Library, tmp_path: Path
) -> None:
    set_scores(library, SCORES)
    out = tmp_path / "scores.json"
    export_scores(library, out)
    loaded = json.loads(out.read_text(encoding="utf-8"))
    opened = {key: SeedImageRecord(**record) for key, record in loaded["ImageRecords"].items()}
    assert {key: (r.score, r.comparisons) for key, r in opened.items()} == SCORES
    # a choice there: the first image wins a point and a comparison; it saves everything
    first = BEST_FIRST[0]
    changed = {first: (SCORES[first][0] + 1.0, SCORES[first][1] + 1)}
    saved = {key: r.saved(*changed.get(key, (r.score, r.comparisons))) for key, r in opened.items()}
    back = tmp_path / "saved_there.json"
    back.write_text(json.dumps({"ImageRecords": saved, "Metadata": loaded["Metadata"]}))
    with scanned(make_folder(tmp_path / "again")) as again:
        assert import_scores(again, back) == ImportReport(back, 4, [])
        got = {r.path: (r.prior, r.prior_comparisons) for r in again.store.ratings()}
    assert got == SCORES | changed


def test_export_scores_leaves_out_missing_images(library: Library, tmp_path: Path) -> None:
    (library.root / "b.png").unlink()
    library.scan()
    out = tmp_path / "scores.csv"
    assert export_scores(library, out).images == 3
    assert "b.png" not in [row[0] for row in read_csv(out)]


def test_export_format_from_argument_and_refused(library: Library, tmp_path: Path) -> None:
    out = tmp_path / "scores.txt"
    assert export_scores(library, out, "JSON").images == 4
    assert "ImageRecords" in json.loads(out.read_text(encoding="utf-8"))
    with pytest.raises(TastemakerError) as e:
        export_scores(library, out)
    assert str(e.value) == (
        f"{out}: cannot tell the format from the file name (use a .csv or .json name, "
        "or give the format: csv or json)."
    )
    with pytest.raises(TastemakerError, match="unknown export format 'xml'"):
        export_scores(library, tmp_path / "scores.csv", "xml")


def test_export_into_missing_folder_is_refused(library: Library, tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "scores.csv"
    with pytest.raises(TastemakerError, match=r"scores\.csv: cannot be written"):
        export_scores(library, out)
    assert not out.parent.exists()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_failed_bradley_terry_fit_leaves_its_columns_empty_and_says_why(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    set_scores(library, SCORES)
    reason = "Bradley-Terry fit: line search failed at iteration 3"

    def fails(*args: object, **kwargs: object) -> None:
        raise bradley_terry.FitFailed(reason)

    monkeypatch.setattr(bradley_terry, "fit", fails)
    out = tmp_path / f"scores.{fmt}"
    assert export_scores(library, out) == ScoresExport(4, reason)
    if fmt == "csv":
        rows = read_csv(out)[1:]
        assert [(row[0], float(row[1])) for row in rows] == [(p, SCORES[p][0]) for p in BEST_FIRST]
        assert {(row[6], row[7]) for row in rows} == {("", "")}
    else:
        document = json.loads(out.read_text(encoding="utf-8"))
        records = document["ImageRecords"].values()
        assert [r["score"] for r in records] == [SCORES[p][0] for p in BEST_FIRST]
        assert {(r["bt_rating"], r["bt_sd"]) for r in records} == {(None, None)}
        assert document["Metadata"]["bt"] == f"not fitted: {reason}"


# -- export_comparisons ----------------------------------------------------------------


def test_export_comparisons(library: Library, tmp_path: Path) -> None:
    session = RateSession(library, RateSettings(choices=3), seed=0)
    before = time.time()
    first, shown1 = choose(session, 1, 500)
    choose(session, 0, 700)
    session.undo()  # withdrawn: left out
    third, shown3 = choose(session, 2, None)
    out = tmp_path / "comparisons.csv"
    assert export_comparisons(library, out) == 4
    rows = read_csv(out)
    assert rows[0] == ["comparison_id", "made_at", "winner", "loser", "response_ms", "session_id"]
    sid = str(session.session_id)
    assert [[r[0], r[2], r[3], r[4], r[5]] for r in rows[1:]] == [
        [str(first.id), shown1[1], shown1[0], "500", sid],
        [str(first.id), shown1[1], shown1[2], "500", sid],
        [str(third.id), shown3[2], shown3[0], "", sid],
        [str(third.id), shown3[2], shown3[1], "", sid],
    ]
    for row in rows[1:]:
        made_at = datetime.fromisoformat(row[1])
        assert made_at.utcoffset() is not None and made_at.utcoffset().total_seconds() == 0
        assert before - 1 <= made_at.timestamp() <= time.time() + 1
    assert rows[1][1] == datetime.fromtimestamp(
        library.store.comparison(first.id).made_at, UTC
    ).isoformat(timespec="milliseconds")


def test_export_comparisons_names_missing_images(library: Library, tmp_path: Path) -> None:
    session = RateSession(library, RateSettings(choices=2), seed=0)
    _, shown = choose(session, 0)
    (library.root / shown[1]).unlink()
    library.scan()
    out = tmp_path / "comparisons.csv"
    assert export_comparisons(library, out) == 1
    assert read_csv(out)[1][2:4] == shown


def test_export_comparisons_empty(library: Library, tmp_path: Path) -> None:
    out = tmp_path / "comparisons.csv"
    assert export_comparisons(library, out) == 0
    assert read_csv(out) == [
        ["comparison_id", "made_at", "winner", "loser", "response_ms", "session_id"]
    ]


# -- import_scores: the accepted forms -------------------------------------------------


def priors(library: Library) -> dict[str, tuple[float, int, str | None]]:
    return {r.path: (r.prior, r.prior_comparisons, r.prior_source) for r in library.store.ratings()}


def test_import_seed_scores(library: Library, tmp_path: Path) -> None:
    source = write(tmp_path / "score.json", json.dumps({"a.png": 1.25, "sub/c.png": -0.5}))
    report = import_scores(library, source)
    assert report == ImportReport(source=source, imported=2, unmatched=[])
    got = priors(library)
    assert got["a.png"] == (1.25, 0, "import:score.json")
    assert got["sub/c.png"] == (-0.5, 0, "import:score.json")
    assert got["b.png"] == (0.0, 0, None)
    assert rating(library, "a.png").elo == 1.25


def test_import_seed_lists_meta_backslashes_and_unmatched(library: Library, tmp_path: Path) -> None:
    document = {
        "#meta#": {"evaluations": 12, "directory": "C:\\pictures"},
        "a.png": [1.25, 7],
        "sub\\c.png": [-0.75, 3],
        "gone.png": [2.0, 1],
        "sub/old/e.png": [0.5],
    }
    source = write(tmp_path / "score.json", json.dumps(document))
    report = import_scores(library, source)
    assert report.imported == 2
    assert report.unmatched == ["gone.png", "sub/old/e.png"]
    got = priors(library)
    assert got["a.png"] == (1.25, 7, "import:score.json")
    assert got["sub/c.png"] == (-0.75, 3, "import:score.json")
    assert rating(library, "sub/c.png").elo == -0.75
    with pytest.raises(FrozenInstanceError):
        report.imported = 3  # type: ignore[misc]


def test_import_absolute_path_inside_library(library: Library, tmp_path: Path) -> None:
    inside = library.root / "sub" / "d.png"
    source = write(tmp_path / "score.json", json.dumps({str(inside): [0.5, 2]}))
    assert import_scores(library, source).imported == 1
    assert priors(library)["sub/d.png"] == (0.5, 2, "import:score.json")


def test_import_image_records(library: Library, tmp_path: Path) -> None:
    document = {
        "ImageRecords": {
            "first": {"relative_filepath": "b.png", "score": 0.7, "comparisons": 2},
            "sub/d.png": {"score": -0.2},
            "other": {"relative_filepath": "sub\\c.png", "score": 1, "comparisons": 3.0},
        },
        "Metadata": {"evaluations": 5},
    }
    source = write(tmp_path / "scores.json", json.dumps(document))
    assert import_scores(library, source) == ImportReport(source, 3, [])
    got = priors(library)
    assert got["b.png"] == (0.7, 2, "import:scores.json")
    assert got["sub/d.png"] == (-0.2, 0, "import:scores.json")
    assert got["sub/c.png"] == (1.0, 3, "import:scores.json")


def test_import_csv(library: Library, tmp_path: Path) -> None:
    text = (
        "\ufeffRelative_Path, score ,comparisons,note\n"
        "a.png,0.5,3,x\n"
        "\n"
        "sub\\c.png, -1.5 ,,y\n"
        "missing.png,2,1,z\n"
    )
    source = write(tmp_path / "scores.csv", text)
    report = import_scores(library, source)
    assert report == ImportReport(source, 2, ["missing.png"])
    got = priors(library)
    assert got["a.png"] == (0.5, 3, "import:scores.csv")
    assert got["sub/c.png"] == (-1.5, 0, "import:scores.csv")


def test_import_csv_without_comparisons(library: Library, tmp_path: Path) -> None:
    source = write(tmp_path / "scores.csv", "score,relative_path\n2.5,b.png\n")
    assert import_scores(library, source).imported == 1
    assert priors(library)["b.png"] == (2.5, 0, "import:scores.csv")


@pytest.mark.parametrize(
    "text", ['{"a.png": [0.5, 1]}', "relative_path,score,comparisons\na.png,0.5,1\n"]
)
def test_import_detects_the_format_by_content(library: Library, tmp_path: Path, text) -> None:
    source = write(tmp_path / "scores.txt", text)
    assert import_scores(library, source).imported == 1
    assert priors(library)["a.png"] == (0.5, 1, "import:scores.txt")


def test_import_copies_of_one_image_are_averaged(library: Library, tmp_path: Path) -> None:
    shutil.copy(library.root / "a.png", library.root / "sub" / "copy-of-a.png")
    library.scan()
    source = write(
        tmp_path / "score.json", json.dumps({"a.png": [1, 2], "sub/copy-of-a.png": [3, 4]})
    )
    assert import_scores(library, source).imported == 1
    assert priors(library)["a.png"] == (2.0, 6, "import:score.json")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_import_then_export_round_trip(tmp_path: Path, fmt: str) -> None:
    with scanned(make_folder(tmp_path / "one")) as first:
        set_scores(first, SCORES)
        session = RateSession(first, RateSettings(choices=3), seed=1)
        for position in (0, 2, 1, 1):
            choose(session, position)
        exported = tmp_path / f"first.{fmt}"
        assert export_scores(first, exported) == ScoresExport(4)
    with scanned(make_folder(tmp_path / "two")) as second:
        report = import_scores(second, exported)
        assert report == ImportReport(exported, 4, [])
        again = tmp_path / f"second.{fmt}"
        export_scores(second, again)
    if fmt == "json":
        records = json.loads(exported.read_text(encoding="utf-8"))["ImageRecords"]
        records_again = json.loads(again.read_text(encoding="utf-8"))["ImageRecords"]
        assert list(records_again) == list(records)
        for path, record in records.items():
            assert records_again[path]["score"] == record["score"]
            assert records_again[path]["comparisons"] == record["comparisons"]
            assert records_again[path]["hash"] == record["hash"]
    else:
        assert [row[:4] for row in read_csv(again)] == [row[:4] for row in read_csv(exported)]


def test_import_after_choices_keeps_them(library: Library, tmp_path: Path) -> None:
    session = RateSession(library, RateSettings(choices=2), seed=3)
    for position in (0, 1, 0, 0, 1, 1, 0):
        choose(session, position)
    comparisons = library.store.comparisons()
    counts = {r.path: r.comparisons for r in library.store.ratings()}
    source = write(tmp_path / "score.json", json.dumps({p: list(v) for p, v in SCORES.items()}))
    import_scores(library, source)
    assert library.store.comparisons() == comparisons
    expected_elo, expected_counts = replay_elo(library.store)
    for r in library.store.ratings():
        assert (r.prior, r.prior_comparisons) == SCORES[r.path]
        assert r.elo == expected_elo[r.image_id]
        assert r.comparisons == expected_counts[r.image_id] == counts[r.path]
    moved = [r for r in library.store.ratings() if r.comparisons]
    assert moved and any(r.elo != r.prior for r in moved)


# -- import_scores: refused files, the store untouched ----------------------------------

MALFORMED = [
    ("broken", "score.json", '{"a.png": 1.0,\n "b.png": }', "not valid JSON (line 2, column 11"),
    ("top-level array", "score.json", "[1, 2]", "not a score file"),
    ("entry shape", "score.json", '{"a.png": {"x": 1}}', "should be a score or [score"),
    ("long list", "score.json", '{"a.png": [1, 2, 3]}', "found an array of 3 items"),
    ("records shape", "s.json", '{"ImageRecords": [1]}', '"ImageRecords" should be an object'),
    ("record shape", "s.json", '{"ImageRecords": {"a.png": 2}}', "should be an object with"),
    ("record no score", "s.json", '{"ImageRecords": {"a.png": {}}}', "has no score"),
    ("no scores", "score.json", '{"#meta#": {}}', "no scores found"),
    ("text score", "score.json", '{"a.png": 1, "b.png": "high"}', "not a number"),
    ("true score", "score.json", '{"a.png": [true, 1]}', "not a number"),
    ("NaN score", "score.json", '{"a.png": NaN}', "not finite"),
    ("huge score", "score.json", '{"a.png": 1e999}', "not finite"),
    ("negative count", "score.json", '{"a.png": [1, -2]}', "comparisons count"),
    ("fraction count", "score.json", '{"a.png": [1, 2.5]}', "comparisons count"),
    ("missing column", "scores.csv", "relative_path,value\na.png,1\n", "missing column score"),
    ("empty csv", "scores.csv", "", "empty file"),
    ("csv text score", "scores.csv", "relative_path,score\na.png,1\nb.png,high\n", "not a number"),
    ("csv inf score", "scores.csv", "relative_path,score\na.png,inf\n", "not finite"),
    ("csv no score", "scores.csv", "relative_path,score\na.png,\n", "has no score"),
    ("csv no path", "scores.csv", "relative_path,score\n,1\n", "has no relative_path"),
    ("csv count", "scores.csv", "relative_path,score,comparisons\na.png,1,x\n", "comparisons"),
    ("outside", "score.json", '{"a.png": 1, "../x.png": 2}', "outside the library"),
    ("twice", "scores.csv", "relative_path,score\na.png,1\n./a.png,2\n", "already named"),
    (
        "2^63-1 count",
        "score.json",
        '{"a.png": [1, 9223372036854775807]}',
        "from 0 to 1,000,000,000",
    ),
    ("inf count", "scores.csv", "relative_path,score,comparisons\na.png,1,inf\n", "comparisons"),
    ("csv huge count", "s.csv", "relative_path,score,comparisons\na.png,1,1e300\n", "comparisons"),
    ("nested", "score.json", '{"a.png": ' + "[" * 100_000 + "]" * 100_000 + "}", "too deeply"),
    ("5000 digits", "score.json", '{"a.png": ' + "7" * 5000 + "}", "number too long"),
    ("csv 5000 digits", "scores.csv", "relative_path,score\na.png," + "7" * 5000, "not finite"),
    ("NUL in path", "scores.csv", "relative_path,score\na\0.png,1\n", "cannot exist"),
    ("no scale", "score.json", '{"a.png": 1e9, "b.png": -1e9}', "too far for the classic scale"),
]


@pytest.fixture
def rated(library: Library) -> Library:
    set_scores(library, SCORES)
    session = RateSession(library, RateSettings(choices=2), seed=0)
    for position in (0, 1, 1):
        choose(session, position)
    return library


@pytest.mark.parametrize(
    ("name", "text", "problem"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_files_are_refused(
    rated: Library, tmp_path: Path, name: str, text: str, problem: str
) -> None:
    before = rated.store.ratings(None)
    source = write(tmp_path / name, text)
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    message = str(e.value)
    assert message.startswith(f"{source}: ")
    assert problem in message
    assert rated.store.ratings(None) == before


def test_broken_json_message(rated: Library, tmp_path: Path) -> None:
    source = write(tmp_path / "score.json", '{"a.png": 1.0,\n "b.png": }')
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    assert str(e.value) == (f"{source}: not valid JSON (line 2, column 11: Expecting value).")


def test_missing_column_message(rated: Library, tmp_path: Path) -> None:
    source = write(tmp_path / "scores.csv", "name,value\na.png,1\n")
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    assert str(e.value) == (
        f"{source}: missing columns relative_path, score (found: name, value; needed: "
        "relative_path, score, optionally comparisons; or score's path, score)."
    )


def test_non_numeric_score_message(rated: Library, tmp_path: Path) -> None:
    source = write(tmp_path / "scores.csv", "relative_path,score\na.png,1\nb.png,high\n")
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    assert str(e.value) == f'{source}: line 3 ("b.png") has a score that is not a number ("high").'


def test_path_outside_via_parent_message(rated: Library, tmp_path: Path) -> None:
    before = rated.store.ratings(None)
    source = write(tmp_path / "score.json", json.dumps({"a.png": 1, "../x.png": 2}))
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    assert str(e.value) == (
        f'{source}: entry "../x.png" names a path outside the library {rated.root}.'
    )
    assert rated.store.ratings(None) == before


def test_absolute_path_elsewhere_is_refused(rated: Library, tmp_path: Path) -> None:
    before = rated.store.ratings(None)
    elsewhere = tmp_path / "elsewhere" / "x.png"
    source = write(tmp_path / "score.json", json.dumps({"a.png": 1, str(elsewhere): 2}))
    with pytest.raises(TastemakerError) as e:
        import_scores(rated, source)
    assert str(e.value).startswith(f"{source}: entry ")
    assert "outside the library" in str(e.value)
    assert rated.store.ratings(None) == before


def test_unreadable_source(rated: Library, tmp_path: Path) -> None:
    source = tmp_path / "nothing.json"
    with pytest.raises(TastemakerError, match=r"nothing\.json: cannot be read"):
        import_scores(rated, source)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(TastemakerError, match=r"binary\.csv: not a text file"):
        import_scores(rated, binary)


def test_a_chess_scale_is_rescaled_and_everything_downstream_works(
    library: Library, tmp_path: Path
) -> None:
    from tastemaker.workflows.ratings import fit_bt
    from tastemaker.workflows.reports import library_stats

    source = write(
        tmp_path / "chess.csv",
        "relative_path,score,comparisons\n"
        "a.png,1900,1000000000\nb.png,1100,3\nsub/c.png,1500,0\nsub/d.png,1300,2\n",
    )
    report = import_scores(library, source)
    assert report.chess_mean == 1450
    prior = {path: p for path, (p, _, _) in priors(library).items()}
    assert prior == {"a.png": 1.125, "b.png": -0.875, "sub/c.png": 0.125, "sub/d.png": -0.375}
    session = RateSession(library, RateSettings(choices=2), seed=0)
    for n in range(30):
        choose(session, n % 2)
    assert len(library.store.comparisons()) == 30
    for kind in ("elo", "bt"):
        assert library_stats(library, kind).choices == 30
    assert all(map(math.isfinite, fit_bt(library.store).ratings.values()))
    export_scores(library, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text())["ImageRecords"]
    assert all(math.isfinite(r["score"]) for r in exported.values())
    assert exported["a.png"]["comparisons"] >= 1_000_000_000


def test_scores_on_the_seed_scale_are_kept_as_they_are(library: Library, tmp_path: Path) -> None:
    report = import_scores(library, write(tmp_path / "s.json", '{"a.png": 100, "b.png": -3}'))
    assert report.chess_mean is None
    assert priors(library)["a.png"][0] == 100


# -- spreadsheets: no cell starts a formula ----------------------------------------------

FORMULA_NAMES = ["=1+1.png", "+a.png", "-b.png", "@c.png", "\tt.png", "\rr.png", "'=q.png", "p.png"]


def test_exported_csv_cells_never_start_a_formula_and_import_back(tmp_path: Path) -> None:
    from tastemaker.workflows.score import write_scores

    folder = tmp_path / "images"
    folder.mkdir()
    for n, name in enumerate(FORMULA_NAMES):
        Image.new("RGB", (8, 8), (n * 30, 0, 0)).save(folder / name, format="PNG")
    with scanned(folder) as library:
        session = RateSession(library, RateSettings(choices=4), seed=0)
        for position in (0, 1, 2, 3):
            choose(session, position)
        export_scores(library, tmp_path / "scores.csv")
        export_comparisons(library, tmp_path / "choices.csv")
        write_scores([(Path(n), -1.0, 0.5) for n in FORMULA_NAMES], tmp_path / "score-o.csv")
        written = {
            "scores.csv": [row[0] for row in read_csv(tmp_path / "scores.csv")[1:]],
            "choices.csv": [c for row in read_csv(tmp_path / "choices.csv")[1:] for c in row[2:4]],
            "score-o.csv": [row[0] for row in read_csv(tmp_path / "score-o.csv")[1:]],
        }
        for cells in written.values():
            assert cells and not [
                c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))
            ]
            assert {c if c == "p.png" else c[1:] for c in cells} <= set(FORMULA_NAMES)
        assert sorted(written["scores.csv"]) == sorted(
            n if n == "p.png" else "'" + n for n in FORMULA_NAMES
        )
        assert read_csv(tmp_path / "score-o.csv")[1][1] == "-1.0"  # numbers stay numbers
        before = {r.path: r.elo for r in library.store.ratings()}
    with scanned(folder) as library:
        report = import_scores(library, tmp_path / "scores.csv")
        assert (report.imported, report.unmatched) == (len(FORMULA_NAMES), [])
        assert {r.path: r.elo for r in library.store.ratings()} == before  # its own: unchanged

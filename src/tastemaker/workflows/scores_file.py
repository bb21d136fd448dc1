"""Scores in and out of a library (choices: :mod:`tastemaker.workflows.choices_file`).

The export hands the database scores (CSV or JSON) to other tools. The score is always
the Elo, on the seed's scale, so an export imports back as it was; each image's
Bradley–Terry rating and its uncertainty ride along in columns of their own, which
imports ignore.
The import takes starting scores from the seed's ``score.json`` (either of its forms) or a
CSV, so a person who rated with the older tool does not start again: the scores become
priors and the stored choices are replayed on top of them. A library's own export carries
each image's prior: imported where its choices are stored, it restores those priors, so
importing it again and again changes nothing. ``score``'s output (CSV or JSON, a ``path``
per image) holds a model's scores: they become starting scores as ``prior`` gives them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from tastemaker.errors import TastemakerError
from tastemaker.rating.bradley_terry import FitFailed
from tastemaker.storage.library import Library
from tastemaker.storage.store import RatingRecord
from tastemaker.workflows.ratings import BTRatings, fit_bt, recompute_elo

FORMATS = ("csv", "json")
SCORE_COLUMNS = (
    "relative_path",
    "score",
    "comparisons",
    "hash",
    "prior",
    "prior_comparisons",
    "bt_rating",
    "bt_sd",
)
BT_SCALE = (
    "bt_rating: Bradley-Terry rating, natural-log scale, P(i beats j) = sigmoid(ri - rj); "
    "bt_sd: its Laplace standard deviation"
)
# what an imported CSV may give
CSV_COLUMNS = ("relative_path", "score", "comparisons", "prior", "prior_comparisons")
SEED_META_KEY = "#meta#"  # the seed's score.json keeps its settings under this key
# a billion choices is beyond any person; sums of such counts stay exact in a float64 and
# far below SQLite's 2^63, so no later arithmetic (stats, pairing weights) can overflow
MAX_COUNT = 10**9
# The seed's P = 1/(1+10^-d): one point of score is ten times the odds, so scores beyond
# +-100 mean nothing on its scale. A file with such scores is read as chess-style Elo
# (400 points = ten times the odds, as FIDE's): divided by 400 around its mean.
SEED_SCALE_LIMIT = 100.0
CHESS_POINTS = 400.0
# a spreadsheet runs a cell starting with one of these as a formula; "'" is its escape
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True)
class ImportReport:
    source: Path
    imported: int  # images given a starting score
    unmatched: list[str]  # library-relative paths in the file that name no image here
    chess_mean: float | None = None  # the mean of a chess-style file, whose scores were rescaled
    compared: int | None = None  # model scores: the compared images, left as they are


@dataclass(frozen=True)
class ScoresExport:
    images: int  # images written
    no_bt: str | None = None  # why the Bradley-Terry columns are empty, if they are


@dataclass(frozen=True)
class _Entry:
    label: str  # names the entry in messages: 'entry "a.png"' or 'line 3 ("a.png")'
    path: str  # as written in the file
    score: float
    comparisons: int
    start: tuple[float, int] | None = None  # a tastemaker export's prior and its comparisons
    model: bool = False  # a model's score (score's output): its path a file's, not the library's


# -- export ------------------------------------------------------------------------------


def export_scores(library: Library, out: Path, fmt: str | None = None) -> ScoresExport:
    """Write the present images' Elo scores, best first, with their Bradley–Terry ratings
    and uncertainties, as CSV or JSON (``fmt``, or the suffix of ``out``); the JSON is the
    seed's later ``score.json`` form, so either file can be imported again. A failed
    Bradley–Terry fit leaves its columns empty (the Elo scores need no fit) and says why."""
    fmt = file_format(out, fmt)
    store = library.store
    hashes = {image.id: image.hash for image in store.images("present")}
    try:
        bt: BTRatings | None = fit_bt(store)
        no_bt: str | None = None
    except FitFailed as e:
        bt, no_bt = None, str(e)
    ratings = sorted(store.ratings("present"), key=lambda r: (-r.elo, r.path))
    records = [_score_record(r, hashes, bt) for r in ratings]
    with replacing(out) as f:
        if fmt == "csv":
            writer = csv.writer(f)  # "\r\n" ends rows, so a "\r" in a name is quoted
            writer.writerow(SCORE_COLUMNS)
            for record in records:
                path, *numbers = record.values()
                writer.writerow([safe_cell(str(path)), *("" if v is None else v for v in numbers)])
        else:
            document = _score_document(library, records, no_bt)
            json.dump(document, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return ScoresExport(len(records), no_bt)


def _score_record(
    r: RatingRecord, hashes: dict[int, str], bt: BTRatings | None
) -> dict[str, object]:
    """One image's row of an export, keyed by :data:`SCORE_COLUMNS` in their order."""
    values = (
        r.path,
        r.elo,
        r.comparisons + r.prior_comparisons,
        hashes[r.image_id],
        r.prior,
        r.prior_comparisons,
        None if bt is None else bt.ratings[r.image_id],
        None if bt is None else bt.sd[r.image_id],
    )
    return dict(zip(SCORE_COLUMNS, values, strict=True))


def safe_cell(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: one ``'`` before a cell that would
    start a formula (or that starts with ``'`` itself, so :func:`unescape_cell` is exact)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def unescape_cell(text: str) -> str:
    """The text :func:`safe_cell` was given."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def file_format(out: Path, fmt: str | None) -> str:
    """The format of a file the tool writes: ``fmt`` if given, else the name's suffix;
    every writer (scores, choices, ``score -o``) decides it so."""
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise TastemakerError(f"{out}: unknown export format {fmt!r} (use csv or json).")
        return fmt.lower()
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise TastemakerError(
            f"{out}: cannot tell the format from the file name (use a .csv or .json name, "
            "or give the format: csv or json)."
        )
    return suffix


def _score_document(
    library: Library, records: list[dict[str, object]], no_bt: str | None
) -> dict[str, object]:
    from tastemaker import __version__  # here, not at the top: the package may import us

    # the seed's rating window reads relative_path (it asserts it), its README names
    # relative_filepath: both, so its window opens the file and either reader finds the path
    image_records = {
        str(record["relative_path"]): {"relative_filepath": record["relative_path"]} | record
        for record in records
    }
    return {
        "ImageRecords": image_records,
        "Metadata": {
            "exported_by": f"tastemaker {__version__}",
            "exported_at": iso_utc(datetime.now(UTC).timestamp()),
            "library": str(library.root),
            "score": "Elo database score",
            "bt": BT_SCALE if no_bt is None else f"not fitted: {no_bt}",
            "images": len(image_records),
        },
    }


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


@contextmanager
def replacing(out: Path) -> Iterator[TextIO]:
    """Write beside ``out`` and rename at the end, so a failed export leaves no half file."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise TastemakerError(f"{out}: cannot be written ({e.strerror or e}).") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- import ------------------------------------------------------------------------------


def import_scores(library: Library, source: Path) -> ImportReport:
    """Set starting scores from an older tool's score file, then replay the stored choices
    on top of them, so choices already made here are kept. The whole file is checked
    before anything is written, and the write is one transaction: on any error the
    library is unchanged."""
    text = read_text(source)
    entries = (
        _parse_json(source, text) if _looks_like_json(source, text) else _parse_csv(source, text)
    )
    if not entries:
        raise TastemakerError(f"{source}: no scores found.")
    if entries[0].model:
        return _import_model_scores(library, source, entries)
    entries, chess_mean = _on_seed_scale(source, entries)
    priors, unmatched = _match(library, source, entries)
    store = library.store
    current = {r.image_id: (r.prior, r.prior_comparisons) for r in store.ratings()}
    changed = {i: start for i, start in priors.items() if current.get(i) != start}
    with store.atomic():
        store.set_priors(changed, source=f"import:{source.name}")
        recompute_elo(store)
    return ImportReport(source, len(priors), unmatched, chess_mean)


def _import_model_scores(library: Library, source: Path, entries: list[_Entry]) -> ImportReport:
    """A model's scores (``score``'s output) as ``prior`` gives them: starting scores of
    the never-compared images, spread as the compared ones are; paths are files' paths
    (relative ones from the current folder), those outside the library unmatched."""
    from tastemaker.workflows.priors import set_starting_scores, starting_scores

    store = library.store
    present = {image.id for image in store.images("present")}
    by_path = {path: f.image_id for path, f in store.files().items() if f.image_id in present}
    scores: dict[int, float] = {}
    unmatched: list[str] = []
    for entry in entries:
        try:
            image_id = by_path.get(library.relative(Path(entry.path).expanduser().absolute()))
        except (TastemakerError, ValueError, OSError):
            image_id = None
        if image_id is None:
            unmatched.append(entry.path)
        else:
            scores[image_id] = entry.score
    new = starting_scores(store, scores)
    set_starting_scores(store, new, f"import:{source.name}")
    return ImportReport(source, len(new), unmatched, compared=len(scores) - len(new))


def _on_seed_scale(source: Path, entries: list[_Entry]) -> tuple[list[_Entry], float | None]:
    """The entries on the seed's scale, and the mean of a chess-style file (else None)."""
    if all(abs(e.score) <= SEED_SCALE_LIMIT for e in entries):
        return entries, None
    mean = math.fsum(e.score / len(entries) for e in entries)
    rescaled = [dataclasses.replace(e, score=(e.score - mean) / CHESS_POINTS) for e in entries]
    for e in rescaled:
        if abs(e.score) > SEED_SCALE_LIMIT:
            raise _error(
                source,
                e.label,
                f"has a score {e.score * CHESS_POINTS:+.6g} away from the file's mean, "
                f"too far for the classic scale (+-{SEED_SCALE_LIMIT:g}) or chess-style Elo "
                f"(+-{SEED_SCALE_LIMIT * CHESS_POINTS:g})",
            )
    return rescaled, mean


def read_text(source: Path) -> str:
    try:  # newline="": a "\r" inside a quoted CSV cell is part of the cell
        with open(source, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except OSError as e:
        raise TastemakerError(f"{source}: cannot be read ({e.strerror or e}).") from None
    except UnicodeDecodeError:
        raise TastemakerError(
            f"{source}: not a text file (expected JSON or CSV in UTF-8)."
        ) from None


def _looks_like_json(source: Path, text: str) -> bool:
    suffix = source.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix == ".json"
    return text.lstrip().startswith(("{", "["))


def _parse_json(source: Path, text: str) -> list[_Entry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TastemakerError(
            f"{source}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})."
        ) from None
    except ValueError:  # an integer of more digits than Python converts
        raise TastemakerError(f"{source}: has a number too long to read.") from None
    except RecursionError:
        raise TastemakerError(f"{source}: nested too deeply to be a score file.") from None
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return [_model_record(source, n, record) for n, record in enumerate(data, start=1)]
    if not isinstance(data, dict):
        raise TastemakerError(
            f"{source}: not a score file (expected a JSON object of image paths and scores, "
            f"found {_kind(data)})."
        )
    if "ImageRecords" in data:
        return _image_records(source, data["ImageRecords"])
    return [_seed_entry(source, key, value) for key, value in data.items() if key != SEED_META_KEY]


def _seed_entry(source: Path, key: str, value: object) -> _Entry:
    """One entry of the seed's first form: ``path: score`` or ``path: [score, comparisons]``."""
    label = f"entry {_show(key)}"
    if isinstance(value, list) and 1 <= len(value) <= 2:
        score, count = value[0], (value[1] if len(value) == 2 else 0)
    elif isinstance(value, list | dict) or value is None:
        raise _error(
            source, label, f"should be a score or [score, comparisons], found {_kind(value)}"
        )
    else:
        score, count = value, 0
    return _Entry(label, key, _score(source, label, score), _count(source, label, count))


def _model_record(source: Path, n: int, record: object) -> _Entry:
    """One record of ``score``'s JSON output: ``{"path", "score", ...}``."""
    label = f"record {n}"
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise _error(source, label, 'should be an object with a "path" and a "score"')
    return _Entry(label, record["path"], _score(source, label, record.get("score")), 0, model=True)


def _image_records(source: Path, records: object) -> list[_Entry]:
    """The seed's later form: ``{"ImageRecords": {key: {"relative_filepath", "score",
    "comparisons"}}, "Metadata": {...}}``; the key is the path when no filepath is given."""
    if not isinstance(records, dict):
        raise TastemakerError(
            f'{source}: "ImageRecords" should be an object of image records, '
            f"found {_kind(records)}."
        )
    entries = []
    for key, record in records.items():
        label = f"entry {_show(key)}"
        if not isinstance(record, dict):
            raise _error(source, label, f"should be an object with a score, found {_kind(record)}")
        if record.get("score") is None:
            raise _error(source, label, "has no score")
        path = record.get("relative_filepath", key)
        if not isinstance(path, str):
            raise _error(
                source, label, f'"relative_filepath" should be a string, found {_kind(path)}'
            )
        score = _score(source, label, record["score"])
        count = _count(source, label, record.get("comparisons"))
        start = _start(source, label, record.get("prior"), record.get("prior_comparisons"))
        entries.append(_Entry(label, path, score, count, start))
    return entries


def _parse_csv(source: Path, text: str) -> list[_Entry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise TastemakerError(
                f"{source}: empty file (expected a CSV with relative_path and score columns)."
            )
        names = [name.strip().lower() for name in header]
        model = "relative_path" not in names and "path" in names  # score's output
        if model:
            names[names.index("path")] = "relative_path"
        missing = [name for name in ("relative_path", "score") if name not in names]
        if missing:
            found = ", ".join(_show(n.strip())[1:-1] for n in header if n.strip()) or "none"
            raise TastemakerError(
                f"{source}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {found}; needed: relative_path, score, optionally comparisons; "
                "or score's path, score)."
            )
        at = {name: names.index(name) for name in CSV_COLUMNS if name in names}
        entries = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines, as spreadsheets leave them

            path, score, count, prior, prior_count = (
                _cell(row, at.get(name)) for name in CSV_COLUMNS
            )
            path = unescape_cell(path)
            if not path:
                column = "path" if model else "relative_path"
                raise _error(source, f"line {reader.line_num}", f"has no {column}")
            label = f"line {reader.line_num} ({_show(path)})"
            entries.append(
                _Entry(
                    label,
                    path,
                    _score(source, label, score),
                    _count(source, label, count),
                    _start(source, label, prior, prior_count),
                    model,
                )
            )
    except csv.Error as e:
        raise TastemakerError(
            f"{source}: not a readable CSV (line {reader.line_num}: {e})."
        ) from None
    return entries


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _score(source: Path, label: str, value: object) -> float:
    if value is None or value == "":
        raise _error(source, label, "has no score")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _error(source, label, f"has a score that is not a number ({_show(value)})")
    try:
        score = float(value)
    except ValueError:
        raise _error(source, label, f"has a score that is not a number ({_show(value)})") from None
    except OverflowError:  # an integer too large for a float
        score = math.inf
    if not math.isfinite(score):
        raise _error(source, label, f"has a score that is not finite ({_show(value)})")
    return score


def _start(
    source: Path, label: str, prior: object, comparisons: object
) -> tuple[float, int] | None:
    """A tastemaker export's prior and prior comparisons, if the entry gives both."""
    if prior in (None, "") or comparisons in (None, ""):
        return None
    return _score(source, label, prior), _count(source, label, comparisons)


def _starting(entry: _Entry, shown_here: int) -> tuple[float, int]:
    """The starting score and count an entry gives: a tastemaker export's own prior where
    this library holds the choices behind its score (at least as many of the image as the
    export counted beyond its prior), so they are not counted twice; else its score."""
    if entry.start is not None and shown_here >= entry.comparisons - entry.start[1]:
        return entry.start
    return entry.score, entry.comparisons


def _count(source: Path, label: str, value: object) -> int:
    """A comparisons count: absent means 0; ``3.0`` is accepted as 3, ``2.5`` or ``-1`` not."""
    if value is None or value == "":
        return 0
    number: int | float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or not 0 <= number <= MAX_COUNT:
        raise _error(
            source,
            label,
            f"has a comparisons count that is not a whole number from 0 to {MAX_COUNT:,} "
            f"({_show(value)})",
        )
    return number


def _match(
    library: Library, source: Path, entries: list[_Entry]
) -> tuple[dict[int, tuple[float, int]], list[str]]:
    """Priors by image id, and the paths that name no present image of the library.

    Paths are matched against every file the last scan saw, so a copy of an image under
    another name counts as that image; when several copies are named, their scores are
    averaged and their comparisons added up."""
    store = library.store
    present = {image.id for image in store.images("present")}
    by_path = {path: f.image_id for path, f in store.files().items() if f.image_id in present}
    shown = store.shown_counts()
    given: dict[str, str] = {}  # relative path -> the entry that named it
    found: dict[int, list[tuple[float, int]]] = {}
    unmatched: list[str] = []
    for entry in entries:
        try:
            relative = library.relative(Path(entry.path.replace("\\", "/")))
        except TastemakerError:
            raise _error(
                source, entry.label, f"names a path outside the library {library.root}"
            ) from None
        except (ValueError, OSError) as e:  # a NUL byte, a name too long for the system
            raise _error(source, entry.label, f"names a path that cannot exist ({e})") from None
        if relative in given:
            raise _error(
                source, entry.label, f"names {_show(relative)}, already named by {given[relative]}"
            )
        given[relative] = entry.label
        image_id = by_path.get(relative)
        if image_id is None:
            unmatched.append(relative)
        else:
            found.setdefault(image_id, []).append(_starting(entry, shown.get(image_id, 0)))
    priors = {
        image_id: (sum(s for s, _ in scores) / len(scores), sum(n for _, n in scores))
        for image_id, scores in found.items()
    }
    return priors, unmatched


def _error(source: Path, label: str, problem: str) -> TastemakerError:
    return TastemakerError(f"{source}: {label} {problem}.")


def _show(value: object, limit: int = 60) -> str:
    """A value as the file wrote it (JSON spelling, on one line), shortened, for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value) if not isinstance(value, list | dict) else _kind(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__

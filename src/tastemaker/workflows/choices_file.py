"""Choices in and out of a library: the export writes every pairwise outcome of the
choices not withdrawn (CSV or JSON, the same records), so other tools can refit from the
raw data; the import reads such a file back as choices.

A choice is the same choice, wherever it is stored, when it was made at the same moment
(to the millisecond the file keeps) on the same set of images (by content) with the same
one chosen. The import appends only the choices the library lacks, counting withdrawn
ones as there (an undo stays undone): importing a file twice, or into the library it
came from, adds nothing, and no stored choice is ever changed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tastemaker.errors import TastemakerError
from tastemaker.rating import elo
from tastemaker.storage.library import Library
from tastemaker.workflows.scores_file import (
    ImportReport,
    file_format,
    import_scores,
    iso_utc,
    read_text,
    replacing,
    safe_cell,
    unescape_cell,
)

COLUMNS = ("comparison_id", "made_at", "winner", "loser", "response_ms", "session_id")
NEEDED = ("made_at", "winner", "loser")


def export_comparisons(library: Library, out: Path, fmt: str | None = None) -> int:
    """Write one record per pairwise outcome of the choices not withdrawn, in the order
    Elo applied them, as CSV or JSON (``fmt``, or the suffix of ``out``). Returns the
    records written."""
    fmt = file_format(out, fmt)
    records = list(_outcomes(library))
    with replacing(out) as f:
        if fmt == "csv":
            writer = csv.writer(f)  # "\r\n" ends rows, so a "\r" in a name is quoted
            writer.writerow(COLUMNS)
            for r in records:
                cells = {
                    **r,
                    "winner": safe_cell(str(r["winner"])),
                    "loser": safe_cell(str(r["loser"])),
                }
                writer.writerow("" if cells[c] is None else cells[c] for c in COLUMNS)
        else:
            json.dump(records, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return len(records)


def _outcomes(library: Library) -> Iterator[dict[str, object]]:
    store = library.store
    paths = {image.id: image.path for image in store.images()}  # missing images too
    for c in store.comparisons():
        made_at = iso_utc(c.made_at)
        for winner, loser in elo.pairwise(c.shown, c.shown.index(c.winner_id)):
            values = (c.id, made_at, paths[winner], paths[loser], c.response_ms, c.session_id)
            yield dict(zip(COLUMNS, values, strict=True))


def is_choices_file(source: Path, text: str) -> bool:
    """Whether ``text`` (the file ``source``) holds choices, as :func:`export_comparisons`
    writes them, rather than scores: CSV with winner and loser columns, or JSON records
    with a winner."""
    stripped = text.lstrip()
    if source.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return False  # the score import says what is wrong with it
        return (
            isinstance(data, list)
            and bool(data)
            and all(isinstance(r, dict) and "winner" in r for r in data)
        )
    header = next(csv.reader(io.StringIO(stripped, newline="")), [])
    names = {name.strip().lower() for name in header}
    return {"winner", "loser"} <= names


@dataclass(frozen=True)
class ChoicesImport:
    source: Path
    added: int  # choices appended
    present: int  # choices the library holds already (withdrawn ones too)
    skipped: int  # choices left out: they show an image not in the library (or one twice)
    unmatched: list[str]  # the paths naming no image here


@dataclass(frozen=True)
class _Choice:
    label: str  # where it is in the file, for messages
    made_at: float
    winner: str
    losers: tuple[str, ...]
    response_ms: int | None


def import_file(library: Library, source: Path) -> ChoicesImport | ImportReport:
    """Import whichever the file holds: choices (:func:`import_choices`) or scores
    (:func:`~tastemaker.workflows.scores_file.import_scores`)."""
    text = read_text(source)
    if is_choices_file(source, text):
        return import_choices(library, source, text)
    return import_scores(library, source)


def import_choices(library: Library, source: Path, text: str | None = None) -> ChoicesImport:
    """Append the choices in ``source`` that the library lacks, in the order they were
    made, each updating the Elo as if it were made now (the database's prediction of it
    recorded the same way), in one transaction. The whole file is checked first: on any
    error the library is unchanged."""
    choices = _read_choices(source, read_text(source) if text is None else text)
    store = library.store
    by_path = {image.path: image.id for image in store.images()}
    by_path |= {path: f.image_id for path, f in store.files().items()}
    unmatched = sorted({p for c in choices for p in (c.winner, *c.losers) if p not in by_path})
    known = {_key(iso_utc(c.made_at), c.shown, c.winner_id) for c in store.comparisons(True)}
    new: list[tuple[_Choice, tuple[int, ...]]] = []
    skipped = present = 0
    for choice in sorted(choices, key=lambda c: c.made_at):
        if any(p not in by_path for p in (choice.winner, *choice.losers)):
            skipped += 1
            continue
        shown = tuple(by_path[p] for p in (choice.winner, *choice.losers))
        if len(set(shown)) < len(shown):  # copies of one image here: no choice between them
            skipped += 1
            continue
        key = _key(iso_utc(choice.made_at), shown, shown[0])
        if key in known:
            present += 1
            continue
        known.add(key)
        new.append((choice, shown))
    if new:
        with store.atomic():
            session = store.start_session({"imported_from": source.name})
            ratings = {r.image_id: r.elo for r in store.ratings(status=None)}
            for choice, shown in new:
                before = [ratings[i] for i in shown]
                after = elo.choose(before, 0)
                store.add_comparison(
                    session,
                    shown,
                    shown[0],
                    elo.prediction(before, 0),
                    choice.response_ms,
                    elo.K,
                    after,
                    made_at=choice.made_at,
                )
                ratings.update(zip(shown, after, strict=True))
    return ChoicesImport(source, len(new), present, skipped, unmatched)


def _key(made_at: str, shown: tuple[int, ...], winner: int) -> tuple[str, frozenset[int], int]:
    return made_at, frozenset(shown), winner


def _read_choices(source: Path, text: str) -> list[_Choice]:
    """The file's choices: its pairwise outcomes grouped by comparison_id (each row its
    own choice where there is none)."""
    groups: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for n, (label, record) in enumerate(_records(source, text)):
        missing = [name for name in NEEDED if not record.get(name)]
        if missing:
            raise _error(source, label, f"has no {', '.join(missing)}")
        groups.setdefault(record.get("comparison_id") or f"#{n}", []).append((label, record))
    choices = []
    for rows in groups.values():
        label, first = rows[0]
        for other_label, other in rows[1:]:
            if (other["made_at"], other["winner"]) != (first["made_at"], first["winner"]):
                raise _error(
                    source,
                    other_label,
                    f"has comparison_id {first['comparison_id']} with another winner or "
                    f"time than {label}",
                )
        losers = tuple(r["loser"] for _, r in rows)
        choices.append(
            _Choice(
                label,
                _made_at(source, label, first["made_at"]),
                first["winner"],
                losers,
                _response_ms(source, label, first.get("response_ms")),
            )
        )
    if not choices:
        raise TastemakerError(f"{source}: no choices found.")
    return choices


def _records(source: Path, text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(label, record) of every row of a CSV or record of a JSON list, values as text."""
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except (ValueError, RecursionError):
            raise TastemakerError(f"{source}: not valid JSON.") from None
        for n, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise _error(source, f"record {n}", "should be an object (one pairwise outcome)")
            yield f"record {n}", {k: "" if v is None else str(v) for k, v in record.items()}
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = [name.strip().lower() for name in next(reader, [])]
        for row in reader:
            if any(cell.strip() for cell in row):
                record = dict(zip(names, (cell.strip() for cell in row), strict=False))
                for side in ("winner", "loser"):  # as safe_cell wrote them
                    record[side] = unescape_cell(record.get(side, ""))
                yield f"line {reader.line_num}", record
    except csv.Error as e:
        raise TastemakerError(
            f"{source}: not a readable CSV (line {reader.line_num}: {e})."
        ) from None


def _made_at(source: Path, label: str, text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _error(
            source, label, f"has a made_at that is not a date and time ({text!r})"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _response_ms(source: Path, label: str, text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise _error(source, label, f"has a response_ms that is not a number ({text!r})") from None
    if value < 0:
        raise _error(source, label, f"has a negative response_ms ({text})")
    return value


def _error(source: Path, label: str, problem: str) -> TastemakerError:
    return TastemakerError(f"{source}: {label} {problem}.")

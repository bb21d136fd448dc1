"""Property-based tests: whatever a score file or a model header holds, it is either read
or refused with one line (a ``TastemakerError``), never another exception."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
import torch
from conftest import make_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.errors import TastemakerError
from tastemaker.model import ModelMeta, TasteModel, build_module, encode_meta, load_model_file
from tastemaker.storage.library import Library, open_library
from tastemaker.workflows.reports import library_stats
from tastemaker.workflows.scores_file import import_scores

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PATHS = st.sampled_from(["img000.png", "img001.png", "./img002.png", "../x.png", "a\x00.png"])
NAMES = st.one_of(PATHS, st.text(max_size=12))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1500, 2000.5, 1e300, -0.0, 2**63 - 1, 10**9]),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# JSON text that Python's json module parses into trouble, or cannot parse at all
RAW = st.sampled_from(
    ["7" * 5000, "[" * 50_000 + "]" * 50_000, "1e400", "NaN", "-Infinity", "[1, 1e300]"]
)
VALUE_TEXT = st.one_of(JSON.map(json.dumps), RAW, NUMBERS.map(json.dumps))


def json_object(items: list[tuple[str, str]]) -> str:
    """A JSON object from keys and value texts already written as JSON."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in items) + "}"


@pytest.fixture(scope="module")
def library() -> Library:
    folder = Path(tempfile.mkdtemp(prefix="tastemaker-props-"))
    make_images(folder / "lib", 3)
    with open_library(folder / "lib") as lib:
        lib.scan()
        yield lib


def imports_or_one_line(library: Library, name: str, content: str) -> None:
    source = library.root.parent / name
    source.write_text(content, encoding="utf-8", newline="")
    try:
        report = import_scores(library, source)
    except TastemakerError as e:
        message = str(e)
        assert message.startswith(f"{source}: ")
        assert "\n" not in message and "\r" not in message and len(message) < 500
    else:
        assert report.imported + len(report.unmatched) >= 1
        assert all(-100 <= r.prior <= 100 for r in library.store.ratings(None))
        assert library_stats(library).images == 3


@SETTINGS
@given(st.lists(st.tuples(NAMES, VALUE_TEXT), min_size=1, max_size=4))
def test_seed_score_json_imports_or_is_refused_in_one_line(library, entries):
    imports_or_one_line(library, "score.json", json_object(entries))


RECORD = st.lists(
    st.tuples(st.sampled_from(["score", "comparisons", "relative_filepath"]), VALUE_TEXT),
    max_size=3,
).map(json_object)


@SETTINGS
@given(
    st.one_of(
        VALUE_TEXT,
        st.lists(st.tuples(NAMES, st.one_of(RECORD, VALUE_TEXT)), max_size=4).map(json_object),
    )
)
def test_image_records_json_imports_or_is_refused_in_one_line(library, records):
    imports_or_one_line(library, "score.json", f'{{"ImageRecords": {records}}}')


@SETTINGS
@given(
    st.lists(
        st.lists(st.one_of(NAMES, NUMBERS.map(str), st.text(max_size=6)), max_size=4), max_size=5
    ),
    st.sampled_from(
        [["relative_path", "score"], ["relative_path", "score", "comparisons"], ["score"], []]
    ),
)
def test_csv_imports_or_is_refused_in_one_line(library, rows, header):
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows] if header else rows)
    imports_or_one_line(library, "scores.csv", text.getvalue())


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["score.json", "scores.csv", "scores.txt"]))
def test_any_text_imports_or_is_refused_in_one_line(library, text, name):
    imports_or_one_line(library, name, text)


# -- the model header ------------------------------------------------------------------

META = ModelMeta(
    extractor="efficientnet-lite0",
    layers=(0,),
    layer_mode="join",
    input_dim=6,
    hidden=(4, 3),
    dropouts=(0.1, 0.1, 0.1),
    score_mean=0.0,
    score_sd=1.0,
    l2_normalize_input=False,
    loss="ranking",
    ratings="elo",
)
FIELDS = sorted(encode_meta(META))


@pytest.fixture(scope="module")
def model_file() -> tuple[Path, dict[str, torch.Tensor]]:
    folder = Path(tempfile.mkdtemp(prefix="tastemaker-model-props-"))
    path = TasteModel(META, build_module(META), device="cpu").save(folder / "m.safetensors")
    from safetensors.torch import load_file

    return path, load_file(str(path))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(VALUE_TEXT, st.text(max_size=20)),
        min_size=1,
        max_size=4,
    ),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
def test_any_model_header_loads_or_is_refused_in_one_line(model_file, changed, dropped):
    from safetensors.torch import save_file

    path, tensors = model_file
    header = {**encode_meta(META), **changed}
    for name in dropped:
        header.pop(name)
    save_file(tensors, str(path), metadata=header)
    try:
        model = load_model_file(path, device="cpu")
    except TastemakerError as e:
        message = str(e)
        assert message.startswith(str(path)) and "\n" not in message and len(message) < 500
    else:
        assert model.meta.score_sd > 0

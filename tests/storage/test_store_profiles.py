"""Profiles in the store: a library written before profiles opens with everything under
``default``, and what one profile writes is never read under another."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import make_images

from tastemaker.errors import SettingError
from tastemaker.storage.library import open_library
from tastemaker.storage.store import SCHEMA_VERSION, Batch, Store

# A library written by tastemaker before profiles (schema 6): six images scanned, nine
# choices made through a RateSession in batches of four, the last one undone, an imported
# prior on the first image, one model registered.
SCHEMA_6 = Path(__file__).parent.parent / "data" / "library-schema6.db"


def old_rows(db_path: Path, sql: str) -> list[tuple]:
    """Rows of the library's copy read as it was written (before it is migrated)."""
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def old_library(tmp_path: Path) -> Path:
    db = tmp_path / "lib" / ".tastemaker" / "library.db"
    db.parent.mkdir(parents=True)
    shutil.copyfile(SCHEMA_6, db)
    return db


def test_a_library_from_before_profiles_opens_with_everything_under_default(old_library):
    old = {
        sql: old_rows(old_library, sql)
        for sql in (
            "PRAGMA user_version",
            "SELECT id, withdrawn_at IS NOT NULL FROM comparisons",
            "SELECT image_id, prior, prior_source, prior_comparisons, elo, comparisons"
            " FROM ratings ORDER BY image_id",
            "SELECT id FROM batches",
            "SELECT id, path FROM models",
        )
    }
    assert old["PRAGMA user_version"] == [(6,)]
    store = Store(old_library)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.profile == "default"
        assert store.profiles() == ["default"]
        assert [(c.id, c.withdrawn_at is not None) for c in store.comparisons(True)] == [
            (i, bool(w)) for i, w in old["SELECT id, withdrawn_at IS NOT NULL FROM comparisons"]
        ]
        assert len(store.comparisons()) == 8
        assert [
            (r.image_id, r.prior, r.prior_source, r.prior_comparisons, r.elo, r.comparisons)
            for r in store.ratings(status=None)
        ] == old[
            "SELECT image_id, prior, prior_source, prior_comparisons, elo, comparisons"
            " FROM ratings ORDER BY image_id"
        ]
        assert [b.id for b in store.batches()] == [i for (i,) in old["SELECT id FROM batches"]]
        assert len(store.batches()) == 2
        assert [(m.id, m.path) for m in store.models()] == old["SELECT id, path FROM models"]
        assert store.newest_session() is not None
        assert store.last_comparison() is not None
    finally:
        store.close()


def test_a_new_profile_of_an_old_library_starts_empty(old_library):
    Store(old_library).close()  # migrated
    other = Store(old_library, "other")
    try:
        assert other.profiles() == ["default", "other"]
        assert other.comparisons(True) == []
        assert other.batches() == []
        assert other.models() == []
        assert other.newest_session() is None
        ratings = other.ratings(status=None)
        assert len(ratings) == 6
        assert {(r.elo, r.comparisons, r.prior, r.prior_comparisons) for r in ratings} == {
            (0.0, 0, 0.0, 0)
        }
    finally:
        other.close()


def test_what_one_profile_writes_another_never_reads(tmp_path):
    make_images(tmp_path / "lib", 4)
    with (
        open_library(tmp_path / "lib", scan=True, profile="alice") as alice,
        open_library(tmp_path / "lib", profile="bob") as bob,
    ):
        a = alice.store
        ids = [im.id for im in a.images("present")]
        session = a.start_session({})
        with a.atomic():
            first = a.add_comparison(session, ids[:2], ids[0], 0, 300, 0.8, [0.4, -0.4])
            a.add_comparison(session, ids[:2], ids[1], 1, 300, 0.8, [0.1, -0.1], model_prediction=1)
            a.add_comparison(session, ids[1::-1], ids[1], 0, 300, 0.8, [0.2, 0.0], repeat_of=first)
        a.add_batch(Batch(0, session, first, first + 1, 0.0, 1.0, 2, 1, 1, 0))
        a.set_priors({ids[2]: (1.0, 3)}, "import:a.csv")
        a.add_model("/x.safetensors", "tiny", "0", {})
        b = bob.store
        assert b.comparisons(True) == [] and b.batches() == [] and b.models() == []
        assert b.last_comparison() is None and b.comparison(first) is None
        assert b.newest_session() is None and b.repeat_outcomes() == []
        assert b.appearances() == 0 and b.shown_counts() == {}
        assert b.prediction_counts() == {} and b.model_prediction_counts() == {}
        assert b.repeat_candidate(before=2e9, pick=0.0) is None
        assert set(b.priors().values()) == {0.0}
        assert b.elo_of(ids) == [0.0] * 4
        with b.atomic():
            b.withdraw(first)  # not bob's to undo
            b.set_weights({first: 0.5})
        assert a.comparison(first) == a.comparisons()[0]
        assert a.comparison(first).withdrawn_at is None and a.comparison(first).weight == 1.0
        assert len(a.comparisons()) == 3 and len(a.batches()) == 1 and len(a.models()) == 1
        assert a.elo_of(ids[:2]) == [0.0, 0.2] and a.priors()[ids[2]] == 1.0
        assert a.repeat_outcomes() == [(ids[0], ids[1])] and a.appearances() == 6


def test_an_image_added_later_has_a_rating_in_every_profile(tmp_path):
    make_images(tmp_path / "lib", 2)
    open_library(tmp_path / "lib", scan=True, profile="alice").close()
    with open_library(tmp_path / "lib", profile="bob") as bob:
        make_images(tmp_path / "lib", 3, prefix="new")
        assert bob.scan().added == 3
        assert len(bob.store.ratings()) == 5
    with open_library(tmp_path / "lib", profile="alice") as alice:
        assert len(alice.store.ratings()) == 5


@pytest.mark.parametrize("name", ["", "Alice", "a b", "../x", "-x", "x" * 33, "é"])
def test_a_profile_name_must_be_short_and_safe(tmp_path, name):
    with pytest.raises(SettingError) as e:
        open_library(tmp_path, profile=name)
    assert str(e.value) == (
        f"profile {name!r}: a profile's name is 1 to 32 lowercase letters, digits, - or _, "
        "starting with a letter or digit"
    )
    assert not (tmp_path / ".tastemaker").exists()


def test_a_reading_command_refuses_a_profile_never_made(tmp_path):
    make_images(tmp_path / "lib", 2)
    open_library(tmp_path / "lib", scan=True, profile="alice").close()
    with pytest.raises(SettingError) as e:
        open_library(tmp_path / "lib", create=False, profile="alcie")
    store = tmp_path / "lib" / ".tastemaker" / "library.db"
    assert e.value.naming(lambda s: f"--{s}") == (
        f"{store}: no profile 'alcie' here (there are: alice, default); rate under it "
        "first, or give another --profile"
    )
    with open_library(tmp_path / "lib", create=False) as lib:
        assert lib.store.profiles() == ["alice", "default"]

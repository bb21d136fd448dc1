"""The store's transactions: write helpers only inside a write, reads that see one
committed state and never wait for a write, and reads that keep to the store's own
files once the files at its path are deleted or replaced."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tastemaker.storage.store import Store, StoreMisuse

WAIT = 10  # seconds a test thread waits for the other before the test fails instead


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store" / "library.db")
    yield store
    store.close()


def in_thread(fn: Callable[[], object]) -> object:
    """What ``fn`` returns when run on a thread of its own (with its own reader)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join(WAIT)
    assert result, "the read did not finish"
    return result[0]


@pytest.mark.parametrize(
    "helper",
    [
        lambda s: s.add_comparison(1, (1, 2), 1, 0, None, 16.0, [8.0, -8.0]),
        lambda s: s.withdraw(1),
        lambda s: s.set_weights({1: 0.5}),
    ],
    ids=["add_comparison", "withdraw", "set_weights"],
)
def test_a_write_helper_outside_a_transaction_is_refused(store, helper):
    with pytest.raises(StoreMisuse, match=r"only inside Store\.atomic"):
        helper(store)
    assert store.comparisons(include_withdrawn=True) == []


def test_a_write_inside_a_snapshot_is_refused(store):
    with pytest.raises(StoreMisuse, match="snapshot"), store.snapshot():
        store.set_setting("k", "v")
    assert store.setting("k") is None


def test_the_writing_thread_reads_its_own_writes(store):
    with store.atomic():
        store.set_setting("k", "new")
        assert store.setting("k") == "new"
        assert in_thread(lambda: store.setting("k")) is None  # not committed yet


def test_a_read_during_an_open_write_sees_the_old_state_without_waiting(store):
    store.set_setting("k", "old")
    written, read = threading.Event(), threading.Event()

    def write() -> None:
        with store.atomic():
            store.set_setting("k", "new")
            written.set()
            read.wait(WAIT)  # the write stays open until the read is done

    writer = threading.Thread(target=write)
    writer.start()
    assert written.wait(WAIT)
    try:
        assert store.setting("k") == "old"  # a read waiting for the writer gets "new"
    finally:
        read.set()
        writer.join()
    assert store.setting("k") == "new"


def test_a_snapshot_sees_one_state_while_a_writer_commits(store):
    store.set_setting("k", "old")
    with store.snapshot():
        assert store.setting("k") == "old"
        in_thread(lambda: store.set_setting("k", "new"))
        assert store.setting("k") == "old"
        assert in_thread(lambda: store.setting("k")) == "new"  # committed for the others
    assert store.setting("k") == "new"


@pytest.mark.parametrize("mishap", ["deleted", "replaced", "wal-deleted", "shm-deleted"])
def test_reads_keep_to_the_store_s_own_files_once_they_are_lost(store, tmp_path, mishap):
    """A reader opened after the mishap (a new thread) would open whatever lies at the
    path now, such as an older copy put back."""
    store.set_setting("k", "old")
    backup = tmp_path / "backup.db"
    with sqlite3.connect(backup) as copy:
        store._writer.backup(copy)
    copy.close()
    store.set_setting("k", "new")
    store.checkpoint()  # as at the end of each batch: the log is empty
    if mishap == "deleted":
        shutil.rmtree(store.path.parent)
    elif mishap == "replaced":
        os.replace(backup, store.path)
    else:
        Path(f"{store.path}-{mishap[:3]}").unlink()
    assert in_thread(lambda: store.setting("k")) == "new"
    assert store.setting("k") == "new"

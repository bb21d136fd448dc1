"""A server or a training run killed with SIGKILL at any moment, or two servers on one
library, lose no acknowledged choice; two profiles rated at once keep their choices apart.

The kill-loop runs ``TASTEMAKER_SOAK_ROUNDS`` rounds (3 by default, well under a minute);
a longer soak is the same test with more rounds (see the README).
"""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import Server, make_images

from tastemaker.model import read_model
from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import RateSession
from tastemaker.workflows.ratings import replay_elo

ROUNDS = int(os.environ.get("TASTEMAKER_SOAK_ROUNDS", "3"))


def rate_until_stopped(url: str, acked: list[int], stop: threading.Event) -> None:
    """One browser tab: next, choose, next, ... recording every acknowledged choice."""
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            try:
                s = client.get("/api/next").json()
                r = client.post(
                    "/api/choose",
                    json={"pair": s["pair"], "winner": s["images"][0]["id"], "ms": 300},
                )
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                acked.append(r.json()["choice"])


@contextmanager
def tabs_rating(urls: list[str], acked: list[int]) -> Iterator[None]:
    """One tab rating on each server for the length of the block; every tab has stopped
    when the block ends, however it ends."""
    stop = threading.Event()
    tabs = [threading.Thread(target=rate_until_stopped, args=(url, acked, stop)) for url in urls]
    for tab in tabs:
        tab.start()
    try:
        yield
    finally:
        stop.set()
        for tab in tabs:
            tab.join()


def wait_for(acked: list[int], count: int, servers: list[Server], seconds: float) -> None:
    """Until ``count`` choices are acknowledged, a server has exited, or time is up."""
    deadline = time.monotonic() + seconds
    while (
        len(acked) < count
        and all(s.process.poll() is None for s in servers)
        and time.monotonic() < deadline
    ):
        threading.Event().wait(0.005)


def assert_whole(folder: Path, acked: list[int], profile: str = "default") -> None:
    """Every acknowledged choice stored (under ``profile``), the database intact, Elo
    replayable bit for bit."""
    with open_library(folder, profile=profile) as lib:
        assert lib.store.integrity_check() == "ok"
        stored = {c.id for c in lib.store.comparisons()}
        assert set(acked) <= stored
        ratings = {r.image_id: r.elo for r in lib.store.ratings(status=None)}
        assert replay_elo(lib.store)[0] == ratings


def test_kill_9_mid_stream_loses_no_acknowledged_choice(tmp_path):
    """Two profiles rated at once, a server and two tabs each, both killed mid-stream."""
    folder = tmp_path / "lib"
    make_images(folder, 30)
    acked: dict[str, list[int]] = {"alice": [], "bob": []}
    for round_ in range(ROUNDS):
        with (
            Server(folder, "--profile", "alice") as alice,
            Server(folder, "--profile", "bob") as bob,
            tabs_rating([alice.url] * 2, acked["alice"]),
            tabs_rating([bob.url] * 2, acked["bob"]),
        ):
            for name in acked:
                wait_for(acked[name], 40 * (round_ + 1), [alice, bob], seconds=60)
            for server in (alice, bob):  # while their tabs are mid-request
                server.process.send_signal(signal.SIGKILL)
                server.process.wait()
        for name, made in acked.items():
            assert len(made) >= 40 * (round_ + 1), f"round {round_}: too few {name} choices"
    for name, made in acked.items():
        assert_whole(folder, made, name)
    assert not set(acked["alice"]) & set(acked["bob"])
    with open_library(folder, profile="alice") as lib:
        assert {c.id for c in lib.store.comparisons()}.isdisjoint(acked["bob"])


def test_two_servers_on_one_library_keep_every_choice(tmp_path):
    """Two ``rate`` processes on one folder (two terminals): each choice is applied to
    the ratings the other left, so the stored Elo is the replay of all of them in order."""
    make_images(tmp_path / "lib", 20)
    acked: list[int] = []
    with (
        Server(tmp_path / "lib") as one,
        Server(tmp_path / "lib") as two,
        tabs_rating([one.url, two.url], acked),
    ):
        wait_for(acked, 80, [one, two], seconds=60)
    assert len(acked) >= 80
    assert_whole(tmp_path / "lib", acked)
    with open_library(tmp_path / "lib") as lib:
        sessions = {c.session_id for c in lib.store.comparisons()}
    assert len(sessions) == 2  # both servers recorded choices


@pytest.mark.slow  # two training runs in processes of their own
def test_train_killed_mid_search_leaves_the_library_whole(tmp_path, tiny_clip):
    """SIGKILL during ``train``: choices and ratings untouched, no half-written model
    under a model's name, and the next ``train`` resumes and finishes."""
    folder = tmp_path / "lib"
    make_images(folder, 30)
    with open_library(folder) as lib:
        lib.scan()
        session = RateSession(lib, seed=0)
        for _ in range(60):
            shown = session.next_set()
            session.choose(shown.token, shown.images[0].id, 500)
        before = lib.store.comparisons()
        ratings = lib.store.ratings(status=None)
    train = [sys.executable, "-m", "tastemaker", "train", str(folder), "--extractor"]
    proc = subprocess.Popen(
        [*train, str(tiny_clip), "--learner", "mlp", "--trials", "500"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    study = folder / ".tastemaker" / "optuna.db"
    deadline = time.monotonic() + 120
    while not _trials_done(study) and proc.poll() is None and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()  # killed mid-search, not after
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open_library(folder) as lib:
        assert lib.store.integrity_check() == "ok"
        assert lib.store.comparisons() == before
        assert lib.store.ratings(status=None) == ratings
        assert lib.store.models() == []
    models = folder / ".tastemaker" / "models"
    assert not list(models.glob("*.safetensors"))
    done = subprocess.run(
        [*train, str(tiny_clip), "--learner", "mlp", "--trials", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with open_library(folder) as lib:
        (record,) = lib.store.models()
    assert read_model(record.path).meta.extractor == str(tiny_clip)


def _trials_done(study: Path) -> int:
    """Finished trials in the Optuna study, read as another program would (0 if none yet)."""
    if not study.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{study}?mode=ro", uri=True, timeout=1) as db:
            (n,) = db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    except sqlite3.OperationalError:  # the study's tables are not made yet
        return 0
    return n


def test_ctrl_c_ends_cleanly_and_prints_the_session(tmp_path):
    make_images(tmp_path / "lib", 5)
    with Server(tmp_path / "lib") as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(2):
                s = client.get("/api/next").json()
                pick = {"pair": s["pair"], "winner": s["images"][1]["id"]}
                assert client.post("/api/choose", json=pick).status_code == 200
        server.process.send_signal(signal.SIGINT)
        out, err = server.output()
    assert server.process.returncode == 0, err
    assert "Session: 2 choices" in out
    assert "Choices: 2 (0.40 per image)" in out
    assert "Traceback" not in err

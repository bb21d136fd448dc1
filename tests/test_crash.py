"""A server killed with SIGKILL at any moment loses no acknowledged choice."""

import signal
import threading

import httpx
from conftest import Server, make_images

from tastemaker.replay import replay_elo
from tastemaker.storage.library import open_library


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


def test_kill_9_mid_stream_loses_no_acknowledged_choice(tmp_path):
    make_images(tmp_path / "lib", 30)
    acked: list[int] = []
    for round_ in range(3):
        server = Server(tmp_path / "lib")
        stop = threading.Event()
        tabs = [
            threading.Thread(target=rate_until_stopped, args=(server.url, acked, stop))
            for _ in range(2)
        ]
        for tab in tabs:
            tab.start()
        target = 40 * (round_ + 1)
        while len(acked) < target and server.process.poll() is None:
            threading.Event().wait(0.005)
        server.process.send_signal(signal.SIGKILL)  # while both tabs are mid-request
        server.process.wait()
        stop.set()
        for tab in tabs:
            tab.join()
    with open_library(tmp_path / "lib") as lib:
        assert lib.store.integrity_check() == "ok"
        stored = {c.id for c in lib.store.comparisons()}
        assert set(acked) <= stored
        assert len(acked) >= 120
        ratings = {r.image_id: r.elo for r in lib.store.ratings(status=None)}
        assert replay_elo(lib.store)[0] == ratings


def test_ctrl_c_ends_cleanly_and_prints_the_session(tmp_path):
    make_images(tmp_path / "lib", 5)
    server = Server(tmp_path / "lib")
    acked: list[int] = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(2):
            s = client.get("/api/next").json()
            r = client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][1]["id"]})
            acked.append(r.json()["choice"])
    server.process.send_signal(signal.SIGINT)
    out, err = server.output()
    assert server.process.returncode == 0, err
    assert "Session: 2 choices" in out
    assert "Comparisons: 2 (0.40 per image)" in out
    assert "Traceback" not in err

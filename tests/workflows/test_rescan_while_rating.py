"""A rescan by another process while ``rate`` runs: images deleted and added under a live
session never turn a committed choice into an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import Server, make_images


def choose(client: httpx.Client, shown: dict) -> httpx.Response:
    return client.post(
        "/api/choose", json={"pair": shown["pair"], "winner": shown["images"][0]["id"]}
    )


@pytest.mark.parametrize("controversy", [False, True], ids=["default", "controversy"])
def test_a_rescan_in_another_process_then_undo_keeps_every_choice(
    tmp_path: Path, request: pytest.FixtureRequest, controversy: bool
) -> None:
    folder = tmp_path / "lib"
    paths = make_images(folder, 8)
    args = ["--seed", "0", "--repeats", "0"]
    if controversy:
        args += ["--controversy", "2", "--model", str(request.getfixturevalue("tiny_model"))]
    server = Server(folder, *args)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(5):
                assert choose(client, client.get("/api/next").json()).status_code == 200
            open_set = client.get("/api/next").json()
            by_path = {im["path"]: im["id"] for im in open_set["images"]}
            # delete an image of the open set and one more, add a new one, rescan elsewhere
            deleted = {by_path[open_set["images"][0]["path"]]}
            other = next(p for p in paths if p.name not in by_path)
            for path in (folder / open_set["images"][0]["path"], other):
                path.unlink()
            (new,) = make_images(folder, 1, prefix="new")
            subprocess.run(
                [sys.executable, "-m", "tastemaker", "scan", str(folder)], check=True, timeout=60
            )
            from tastemaker.storage.library import open_library

            with open_library(folder) as library:
                ids = {im.path: im.id for im in library.store.images()}
            deleted.add(ids[other.name])
            new_id = ids[new.name]

            assert choose(client, open_set).status_code == 200  # shown before the rescan
            undone = client.post("/api/undo", json={})
            assert undone.status_code == 200, undone.text
            statuses, shown = [], set()
            for _ in range(40):
                s = client.get("/api/next")
                assert s.status_code == 200, s.text
                shown |= {im["id"] for im in s.json()["images"]}
                statuses.append(choose(client, s.json()).status_code)
            stats = client.get("/api/stats").json()
    finally:
        server.stop()
    assert statuses == [200] * 40
    assert new_id in shown and not shown & deleted
    assert stats["library"]["choices"] == 5 + 40

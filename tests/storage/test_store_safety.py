"""The store cannot be lost by a path or a tidy-up: no output lands in it, a store deleted
or replaced under a running server refuses choices instead of losing them, ``library.db``
alone is a complete copy after a batch, re-importing an export changes nothing, and a
folder the user cannot write to keeps its store elsewhere."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import Server, make_images
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.errors import StoreUnavailable
from tastemaker.storage.library import open_library
from tastemaker.workflows.ratings import recompute_elo
from tastemaker.workflows.scores_file import export_scores, import_scores

runner = CliRunner()


@pytest.fixture
def rated(tmp_path: Path) -> Path:
    """A library folder of 8 images with 12 choices made."""
    make_images(tmp_path / "lib", 8)
    with open_library(tmp_path / "lib", scan=True) as library:
        rate(library, 12, batch=100).close()
    return tmp_path / "lib"


def snapshot(folder: Path, **kwargs: object) -> tuple[list, int]:
    """Every rating record and the number of stored choices."""
    with open_library(folder, **kwargs) as library:
        return library.store.ratings(status=None), len(library.store.comparisons())


def one_line_error(result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    message = result.output.strip()
    assert message.startswith("Error:") and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# -- no output inside the store ----------------------------------------------------------


def output_cases(lib: Path, tmp: Path) -> dict[str, Path]:
    """The store's own file named directly, through ``..`` and through a link."""
    (tmp / "via").symlink_to(lib / ".tastemaker")
    return {
        "direct": lib / ".tastemaker" / "library.db",
        "dotdot": lib / "sub" / ".." / ".tastemaker" / "library.db",
        "link": tmp / "via" / "library.db",
    }


@pytest.mark.parametrize("form", ["direct", "dotdot", "link"])
def test_export_into_the_store_is_refused_and_the_store_kept(rated, tmp_path, form):
    before = snapshot(rated)
    target = output_cases(rated, tmp_path)[form]
    for args in (["--format", "csv"], ["--comparisons"]):
        result = runner.invoke(app, ["export", str(rated), "-o", str(target), *args])
        one_line_error(result, "store", "write it somewhere else")
    assert snapshot(rated) == before


def test_train_score_plot_and_demo_into_the_store_are_refused(
    rated, tmp_path, tiny_clip, tiny_model
):
    before = snapshot(rated)
    store = rated / ".tastemaker"
    image = str(rated / "img000.png")
    train = ["train", str(rated), "--extractor", str(tiny_clip), "-o"]
    attempts = [
        [*train, str(store)],
        [*train, str(output_cases(rated, tmp_path)["link"])],
        ["score", str(tiny_model), image, "-o", str(store / "library.db")],
        ["score", str(tiny_model), image, "--copy-to", str(store)],
        ["score", str(tiny_model), image, "--link-to", str(rated / "sub" / ".." / ".tastemaker")],
        ["stats", str(rated), "--plot", str(store / "library.png")],
        ["demo", str(store / "demo"), "--generate-only", "--count", "2"],
    ]
    for args in attempts:
        one_line_error(runner.invoke(app, args), "store")
    assert snapshot(rated) == before
    assert not (store / "optuna.db").exists()  # refused before any training


def test_an_external_store_is_refused_as_an_output_too(rated, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    runner.invoke(app, ["scan", str(rated), "--store", str(elsewhere)])
    output = ["-o", str(elsewhere / "library.db"), "--format", "json"]
    result = runner.invoke(app, ["export", str(rated), "--store", str(elsewhere), *output])
    one_line_error(result, "elsewhere", "store")


def test_outputs_that_cannot_be_written_fail_at_once_in_one_line(rated, tmp_path, tiny_model):
    long_name = str(tmp_path / ("m" * 300 + ".safetensors"))
    one_line_error(
        runner.invoke(app, ["train", str(rated), "--extractor", "nowhere", "-o", long_name]),
        "too long",
    )
    one_line_error(
        runner.invoke(app, ["stats", str(rated), "--plot", str(tmp_path / "out.txt")]), ".png"
    )
    (tmp_path / "taken").write_text("a file")
    image = str(rated / "img000.png")
    one_line_error(
        runner.invoke(app, ["score", str(tiny_model), image, "--copy-to", str(tmp_path / "taken")]),
        "is a file",
    )
    make_images(tmp_path / "other", 3)
    (tmp_path / "other" / ".tastemaker").write_text("not a folder")
    one_line_error(runner.invoke(app, ["stats", str(tmp_path / "other")]), ".tastemaker", "--store")


# -- a store deleted or replaced under a running server ----------------------------------


def choose(client: httpx.Client) -> httpx.Response:
    s = client.get("/api/next").json()
    return client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})


def stored_choices(db: Path) -> set[int]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM comparisons")}


@pytest.mark.parametrize("mishap", ["deleted", "replaced", "wal-deleted", "shm-deleted"])
def test_a_store_lost_under_the_server_refuses_choices_and_keeps_every_one(tmp_path, mishap):
    """The server notices before the next set and before acknowledging that its file is
    not the one at the path any more: both get 503 in the error shape, and every choice
    acknowledged before is kept in a file (never a new empty store), even if the server
    is then killed."""
    lib = tmp_path / "lib"
    make_images(lib, 10)
    store = lib / ".tastemaker"
    server = Server(lib)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            backup = tmp_path / "backup.db"
            with sqlite3.connect(store / "library.db") as live, sqlite3.connect(backup) as copy:
                live.backup(copy)  # an older copy, as a restore would put back
            pending = client.get("/api/next").json()  # a set shown before the mishap
            acked = [choose(client).json()["choice"] for _ in range(6)]
            if mishap == "deleted":
                shutil.rmtree(store)
            elif mishap == "replaced":
                os.replace(backup, store / "library.db")
            else:
                (store / f"library.db-{mishap[:3]}").unlink()
            winner = pending["images"][0]["id"]
            for r in (
                client.get("/api/next"),
                client.post("/api/choose", json={"pair": pending["pair"], "winner": winner}),
            ):
                assert r.status_code == 503, r.text
                body = r.json()
                assert body["ok"] is False and body["status"] == 503
                assert "library.db" in body["error"]
        server.process.kill()  # no clean exit: what was kept is kept by now
        server.process.wait()
    finally:
        server.stop()
    saved = [store / "library.db"] if mishap != "replaced" else list(store.glob("*saved*.db"))
    assert len(saved) == 1 and stored_choices(saved[0]) == set(acked)
    if mishap == "replaced":  # until the person chooses between the two, nothing opens it
        one_line_error(runner.invoke(app, ["stats", str(lib)]), saved[0].name, "put it back")


def test_a_store_deleted_under_the_server_is_written_back_when_it_stops(tmp_path):
    lib = tmp_path / "lib"
    make_images(lib, 10)
    server = Server(lib)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        acked = [choose(client).json()["choice"] for _ in range(4)]
    shutil.rmtree(lib / ".tastemaker")
    server.process.send_signal(signal.SIGINT)
    _, err = server.output()
    assert server.process.returncode == 0 and "Traceback" not in err, err
    assert stored_choices(lib / ".tastemaker" / "library.db") == set(acked)


# -- library.db alone is a backup --------------------------------------------------------


def test_library_db_alone_holds_every_choice_after_a_batch(tmp_path):
    lib = tmp_path / "lib"
    make_images(lib, 10)
    server = Server(lib, "--batch", "5", "--repeats", "0")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            acked = [choose(client).json()["choice"] for _ in range(10)]
            shutil.copy(lib / ".tastemaker" / "library.db", tmp_path / "backup.db")
    finally:
        server.stop()
    assert stored_choices(tmp_path / "backup.db") == set(acked)  # no -wal beside it


# -- import of the library's own export --------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_importing_the_own_export_twice_changes_nothing(rated, tmp_path, suffix):
    with open_library(rated) as library:  # starting scores of its own, to be kept
        library.store.set_priors({1: (0.25, 3), 2: (-0.5, 0)}, "model:test")
        recompute_elo(library.store)
    with open_library(rated) as library:
        export_scores(library, tmp_path / f"scores{suffix}")
    before = snapshot(rated)
    for _ in range(2):
        result = runner.invoke(app, ["import", str(rated), str(tmp_path / f"scores{suffix}")])
        assert result.exit_code == 0, result.output
        assert snapshot(rated) == before
    stats = runner.invoke(app, ["stats", str(rated), "--json"])
    assert '"choices": 12' in stats.output


def test_the_own_export_gives_a_fresh_library_its_scores_as_priors(rated, tmp_path):
    with open_library(rated) as library:
        export_scores(library, tmp_path / "scores.csv")
        scores = {r.path: r.elo for r in library.store.ratings()}
    shutil.copytree(rated, tmp_path / "fresh", ignore=shutil.ignore_patterns(".tastemaker"))
    with open_library(tmp_path / "fresh", scan=True) as library:
        import_scores(library, tmp_path / "scores.csv")
        assert {r.path: r.elo for r in library.store.ratings()} == scores


# -- a folder the user cannot write to ---------------------------------------------------


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A folder of images nobody can add a file to. chmod alone does not stop root (as
    tests may run), so as root the folder is made immutable (chattr +i), which refuses
    root as a read-only mount would; where neither works the test is skipped."""
    folder = tmp_path / "photos"
    make_images(folder, 5)
    folder.chmod(0o555)
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    if immutable:
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    try:
        if os.access(folder, os.W_OK) and _can_create_in(folder):
            pytest.skip("cannot make a folder read-only here")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / ".probe").mkdir()
    except OSError:
        return False
    (folder / ".probe").rmdir()
    return True


def test_a_read_only_folder_names_the_option_and_works_with_a_store_elsewhere(
    read_only_folder, tmp_path
):
    one_line_error(runner.invoke(app, ["scan", str(read_only_folder)]), "photos", "--store")
    one_line_error(runner.invoke(app, ["stats", str(read_only_folder)]), "photos", "--store DIR")
    result = runner.invoke(app, ["scan", str(read_only_folder), "--store", str(tmp_path / "s")])
    assert result.exit_code == 0 and "5 images" in result.output, result.output
    elsewhere = {"TASTEMAKER_STORE": str(tmp_path / "s")}
    result = runner.invoke(app, ["stats", str(read_only_folder)], env=elsewhere)
    assert result.exit_code == 0 and "Images: 5" in result.output, result.output
    with open_library(read_only_folder, store=tmp_path / "s") as library:
        assert len(library.store.images()) == 5
    assert not (read_only_folder / ".tastemaker").exists()


def test_a_store_kept_elsewhere_belongs_to_one_library(tmp_path):
    make_images(tmp_path / "a", 3)
    make_images(tmp_path / "b", 3)
    runner.invoke(app, ["scan", str(tmp_path / "a"), "--store", str(tmp_path / "s")])
    result = runner.invoke(app, ["scan", str(tmp_path / "b"), "--store", str(tmp_path / "s")])
    one_line_error(result, "is the store of the library", str(tmp_path / "a"))


# -- a full disk -------------------------------------------------------------------------


def test_a_full_disk_refuses_the_choice_and_the_session_goes_on(tmp_path):
    """SQLite's own limit on the file's pages stands in for a full disk: the write fails
    inside SQLite exactly as it does when the disk has no room."""
    make_images(tmp_path / "lib", 6)
    with open_library(tmp_path / "lib", scan=True) as library:
        session = rate(library, 2, batch=100)
        db = library.store._writer
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        shown = session.next_set()
        with pytest.raises(StoreUnavailable, match="full"):
            for _ in range(2000):  # until a choice needs a new page
                session.choose(shown.token, shown.images[0].id)
                shown = session.next_set()
        db.execute("PRAGMA max_page_count = 1000000")
        made = session.choose(shown.token, shown.images[0].id)
        assert made.session.choices == len(library.store.comparisons())

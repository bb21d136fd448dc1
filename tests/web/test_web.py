import os

import pytest
from conftest import local_client
from fastapi.testclient import TestClient
from PIL import Image

from tastemaker.rating.odd_one_out import advice
from tastemaker.storage.library import open_library
from tastemaker.web.app import create_app
from tastemaker.workflows.rate import RateSession, RateSettings


@pytest.fixture
def client(library):
    with local_client(RateSession(library, RateSettings(batch=3), seed=0)) as c:
        yield c


def test_next_gives_a_token_and_two_distinct_images(client, library):
    body = client.get("/api/next").json()
    assert isinstance(body["pair"], str) and body["pair"]
    ids = [im["id"] for im in body["images"]]
    assert len(set(ids)) == 2
    known = {im.id: im.path for im in library.store.images()}
    for im in body["images"]:
        assert im["path"] == known[im["id"]]
        assert client.get(im["url"]).status_code == 200


def test_choose_commits_and_returns_stats(client, library):
    s = client.get("/api/next").json()
    r = client.post(
        "/api/choose", json={"pair": s["pair"], "winner": s["images"][1]["id"], "ms": 650}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["session"]["choices"] == 1
    assert body["library"]["choices"] == 1
    (stored,) = library.store.comparisons()
    assert stored.id == body["choice"] and stored.winner_id == s["images"][1]["id"]


def test_errors_have_one_shape_and_change_nothing(client, library):
    s = client.get("/api/next").json()
    outsider = next(
        im.id for im in library.store.images() if im.id not in {i["id"] for i in s["images"]}
    )
    r = client.post("/api/choose", json={"pair": s["pair"], "winner": outsider})
    assert r.status_code == 422
    assert (
        r.json() == {"ok": False, "status": 422, "error": r.json()["error"]}
        and "not in this set" in r.json()["error"]
    )
    r = client.post("/api/choose", json={"pair": "stale", "winner": s["images"][0]["id"]})
    assert r.status_code == 409 and "GET /api/next" in r.json()["error"]
    r = client.post("/api/choose", json={"pair": s["pair"], "winner": "abc"})
    assert r.status_code == 422
    r = client.post("/api/choose", json={"winner": s["images"][0]["id"]})
    assert r.status_code == 422 and "pair" in r.json()["error"]
    r = client.post("/api/undo", json={})
    assert r.status_code == 409 and r.json()["error"] == "There is no choice to undo."
    assert library.store.comparisons(include_withdrawn=True) == []


def test_undo_hands_the_set_back(client, library):
    s = client.get("/api/next").json()
    c = client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]}).json()
    r = client.post("/api/undo", json={"choice": c["choice"]}).json()
    assert r["withdrawn"] == c["choice"]
    assert [i["id"] for i in r["set"]["images"]] == [i["id"] for i in s["images"]]
    assert library.store.comparisons() == []
    assert len(library.store.comparisons(include_withdrawn=True)) == 1


def test_batch_report_comes_with_the_choice_that_ends_it(client):
    batches = []
    for _ in range(3):
        s = client.get("/api/next").json()
        batches.append(
            client.post(
                "/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]}
            ).json()["batch"]
        )
    assert batches[:2] == [None, None]
    assert batches[2]["choices"] == 3
    (stored,) = client.get("/api/stats").json()["library"]["batches"]
    report = batches[2]
    # the report's own agreement, as the stored batch (and the stats command) has it
    called = report["matched"] + report["contradicted"]
    assert report["agreement"] == (report["matched"] / called if called else None)
    assert {k: report[k] for k in ("matched", "contradicted", "unpredicted", "agreement")} == {
        k: stored[k] for k in ("matched", "contradicted", "unpredicted", "agreement")
    }


def test_the_batch_report_has_an_agreement_once_the_database_made_a_call(library):
    session = RateSession(library, RateSettings(batch=8, repeats=0), seed=0)
    with local_client(session) as c:
        for _ in range(8):
            s = c.get("/api/next").json()
            low = min(s["images"], key=lambda im: im["id"])
            batch = c.post("/api/choose", json={"pair": s["pair"], "winner": low["id"]}).json()[
                "batch"
            ]
    assert batch["matched"] + batch["contradicted"] > 0
    assert batch["agreement"] == batch["matched"] / (batch["matched"] + batch["contradicted"])


def test_ending_rating_keeps_the_statistics_and_gallery_served(library):
    ended = []
    session = RateSession(library, seed=0)
    app = create_app(session, on_end=lambda: ended.append(True))
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        s = c.get("/api/next").json()
        c.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})
        assert c.get("/api/stats").json()["ended"] is False
        for _ in range(2):  # a second end (another tab) changes nothing
            body = c.post("/api/end", json={}).json()
            assert body["ended"] is True and body["session"]["choices"] == 1
        assert ended == [True]
        refused = c.get("/api/next")
        assert refused.status_code == 410
        assert refused.json()["error"].startswith("Rating has ended")
        assert c.post("/api/undo", json={}).status_code == 410
        for url in ("/stats", "/gallery", "/api/stats", "/api/progress", "/api/gallery"):
            assert c.get(url).status_code == 200, url
    assert len(library.store.comparisons()) == 1


def test_the_page_is_told_whether_a_model_is_consulted(library):
    with local_client(RateSession(library, seed=0)) as c:
        assert c.get("/api/stats").json()["settings"]["model"] is False
    model = {im.id: float(im.id) for im in library.store.images()}
    with local_client(RateSession(library, seed=0, model_scores=model)) as c:
        assert c.get("/api/stats").json()["settings"]["model"] is True


def test_every_page_has_the_icon(client):
    for url in ("/", "/stats", "/gallery", "/docs"):
        assert '<link rel="icon" href="/static/favicon.svg">' in client.get(url).text, url
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_images_are_served_only_by_id_from_inside_the_library(client, library, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    for url in (
        "/api/image/..%2F..%2Fsecret.png",
        "/api/image/../secret.png",
        "/api/image/%2e%2e%2fsecret.png",
        "/api/image/99999",
        "/api/image/-1",
        f"/api/image/{secret}",
        "/static/..%2F..%2F..%2Fsecret.png",
    ):
        r = client.get(url)
        assert r.status_code in (404, 422), url
        assert r.content != secret.read_bytes()
    # a library file later replaced by a link to a file outside is refused
    victim = library.store.images()[0]
    path = library.root / victim.path
    path.unlink()
    os.symlink(secret, path)
    assert client.get(f"/api/image/{victim.id}").status_code == 404


def test_large_images_are_served_downscaled_and_cached(tmp_path):
    from tastemaker.storage.image_cache import MAX_SIDE
    from tastemaker.storage.library import open_library

    root = tmp_path / "lib"
    root.mkdir()
    Image.new("RGB", (5000, 3000), (200, 30, 30)).save(root / "huge.jpg", quality=95)
    Image.new("RGB", (300, 200), (20, 30, 200)).save(root / "small.png")
    Image.new("RGB", (300, 200), (20, 90, 200)).save(root / "odd.bmp")
    with open_library(root) as lib:
        lib.scan()
        ids = {im.path: im.id for im in lib.store.images()}
        with local_client(RateSession(lib, seed=0)) as c:
            huge = c.get(f"/api/image/{ids['huge.jpg']}")
            assert huge.headers["content-type"] == "image/jpeg"
            from io import BytesIO

            assert max(Image.open(BytesIO(huge.content)).size) == MAX_SIDE
            assert list((lib.cache_dir / f"display-{MAX_SIDE}").iterdir())
            small = c.get(f"/api/image/{ids['small.png']}")
            assert small.content == (root / "small.png").read_bytes()
            odd = c.get(f"/api/image/{ids['odd.bmp']}")
            assert odd.headers["content-type"] == "image/jpeg"


def test_the_page_and_the_openapi_document_are_served(client):
    assert "tastemaker" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/next", "/api/choose", "/api/undo", "/api/stats"} <= set(paths)


def test_a_choice_and_the_stats_page_report_the_same_library(client, library):
    for _ in range(4):
        s = client.get("/api/next").json()
        client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})
    deleted = next(im for im in library.store.images() if im.path.startswith("sub/"))
    (library.root / deleted.path).unlink()
    with open_library(library.root) as elsewhere:  # a rescan, as another process makes it
        elsewhere.scan()
    s = client.get("/api/next").json()
    chosen = client.post(
        "/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]}
    ).json()["library"]
    stats = client.get("/api/stats").json()["library"]
    assert chosen["missing"] == 1 and chosen["images"] == 9 and len(chosen["best"]) == 5
    assert {k: v for k, v in stats.items() if k != "batches"} == {
        k: v for k, v in chosen.items() if k != "batches"
    }


def test_the_advice_and_the_ceiling_are_the_servers(library):
    model = {im.id: float(im.id) for im in library.store.images()}
    with local_client(RateSession(library, seed=0, model_scores=model)) as c:
        assert c.get("/api/stats").json()["library"]["advice"] is None
        assert c.get("/api/stats").json()["library"]["consistency"]["ceiling"] == 0.75
        for _ in range(6):
            s = c.get("/api/next").json()
            low = min(s["images"], key=lambda im: im["id"])  # against the model
            r = c.post("/api/choose", json={"pair": s["pair"], "winner": low["id"]})
        chosen = r.json()["library"]
        assert chosen["advice"] and chosen["advice"] == advice(chosen["odd_one_out"])
        assert chosen["advice"] == c.get("/api/stats").json()["library"]["advice"]

import os
from io import BytesIO

import pytest
from conftest import local_client
from fastapi.testclient import TestClient
from PIL import Image
from rated import rate

from tastemaker.storage.image_cache import THUMB_SIDE
from tastemaker.web.app import create_app
from tastemaker.workflows.rate import RateSession, RateSettings


@pytest.fixture
def rated(library):
    rate(library, 30, batch=10).close()
    return library


@pytest.fixture
def client(rated):
    with local_client(RateSession(rated, RateSettings(), seed=0)) as c:
        yield c


def model_scores(library):
    return {im.id: -float(im.id) for im in library.store.images()}  # lower id is better


@pytest.fixture
def model_client(rated):
    """With a model in the loop that gives each score an uncertainty (a kernel model)."""
    spread = {im.id: im.id / 10 for im in rated.store.images()}
    session = RateSession(
        rated, seed=0, model_scores=model_scores(rated), model_uncertainties=spread
    )
    with local_client(session) as c:
        yield c


def test_progress_has_every_plot_and_the_ceiling(client):
    body = client.get("/api/progress").json()
    assert set(body) == {
        "images",
        "choices",
        "appearances",
        "pairwise_outcomes",
        "agreement",
        "ceiling",
        "ceiling_source",
        "batches",
        "current",
        "appearances_per_image",
        "scores",
    }
    assert (body["ceiling"], body["ceiling_source"]) == (0.75, "generic")
    assert [b["choices_so_far"] for b in body["batches"]] == [10, 20, 30]
    assert [b["number"] for b in body["batches"]] == [1, 2, 3]
    assert set(body["batches"][0]) == {
        "number",
        "session_id",
        "ended_at",
        "choices",
        "choices_so_far",
        "matched",
        "contradicted",
        "unpredicted",
        "agreement",
        "convergence",
    }
    assert body["batches"][0]["convergence"] is None
    assert isinstance(body["batches"][1]["convergence"], float)
    per_image = body["appearances_per_image"]
    assert sum(per_image["counts"]) == body["images"] == 10
    assert len(per_image["edges"]) == len(per_image["counts"]) + 1
    assert sum(body["scores"]["database"]["counts"]) == 10
    assert body["scores"]["model"] is None


def test_progress_before_the_first_batch_has_the_batch_under_way(library):
    session = RateSession(library, RateSettings(batch=100, repeats=0), seed=0)
    with local_client(session) as c:
        for n in range(7):
            s = c.get("/api/next").json()
            c.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][n % 2]["id"]})
        body = c.get("/api/progress").json()
        stats = c.get("/api/stats").json()["library"]
    assert body["batches"] == []
    current = body["current"]
    assert (current["session_id"], current["choices"], current["size"]) == (
        session.session_id,
        7,
        100,
    )
    called = current["matched"] + current["contradicted"]
    assert current["matched"] + current["contradicted"] + current["unpredicted"] == 7
    assert current["agreement"] == (current["matched"] / called if called else None)
    assert body["agreement"] == {k: current[k] for k in body["agreement"]}  # all choices
    assert body["agreement"] == {k: stats[k] for k in body["agreement"]}


def test_progress_and_stats_give_the_stores_counts(library):
    """With sets of three the three counts differ; both answers agree with the store."""
    session = RateSession(library, RateSettings(choices=3, batch=5, repeats=0), seed=0)
    with local_client(session) as c:
        for _ in range(8):
            s = c.get("/api/next").json()
            c.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][2]["id"]})
        c.post("/api/undo", json={})
        progress = c.get("/api/progress").json()
        stats = c.get("/api/stats").json()["library"]
    choices = library.store.comparisons()
    expected = {
        "choices": len(choices),
        "appearances": sum(len(ch.shown) for ch in choices),
        "pairwise_outcomes": sum(len(ch.shown) - 1 for ch in choices),
    }
    assert expected == {"choices": 7, "appearances": 21, "pairwise_outcomes": 14}
    for body in (progress, stats):
        assert {k: body[k] for k in expected} == expected
    assert stats["appearances_per_image"] == progress["appearances_per_image"]["mean"] == 2.1
    assert stats["choices_per_image"] == 0.7
    assert stats["never_shown"] == progress["appearances_per_image"]["counts"][0]
    assert [b["choices"] for b in progress["batches"]] == [5]
    assert progress["current"]["choices"] == 2


def test_progress_has_the_models_scores_with_a_model(model_client):
    scores = model_client.get("/api/progress").json()["scores"]
    assert sum(scores["model"]["counts"]) == 10


def test_gallery_sorts_filters_and_pages(client, rated):
    body = client.get("/api/gallery").json()
    assert body["total"] == 10 and body["has_model"] is False
    assert body["folders"] == [{"path": "", "images": 10}, {"path": "sub", "images": 4}]
    scores = [im["score"] for im in body["images"]]
    assert scores == sorted(scores, reverse=True)
    first = body["images"][0]
    assert set(first) == {
        "id",
        "path",
        "folder",
        "score",
        "appearances",
        "rank",
        "model_score",
        "model_rank",
        "model_uncertainty",
        "thumb",
        "url",
    }
    assert first["rank"] == 1 and first["model_score"] is first["model_uncertainty"] is None
    assert first["thumb"].startswith(f"/api/thumb/{first['id']}?v=")
    stored = {r.image_id: r for r in rated.store.ratings()}
    assert first["score"] == stored[first["id"]].elo
    assert first["appearances"] == stored[first["id"]].comparisons

    worst = client.get("/api/gallery", params={"order": "asc", "limit": 1}).json()
    assert worst["images"][0]["score"] == min(scores) and worst["images"][0]["rank"] == 10

    sub = client.get("/api/gallery", params={"folder": "sub", "limit": 3}).json()
    assert sub["total"] == 4 and len(sub["images"]) == 3
    assert all(im["path"].startswith("sub/") for im in sub["images"])
    more = client.get("/api/gallery", params={"folder": "sub", "offset": 3}).json()
    assert len(more["images"]) == 1
    paged = [im["id"] for im in sub["images"] + more["images"]]
    assert len(set(paged)) == 4
    assert client.get("/api/gallery", params={"folder": "nowhere"}).json()["total"] == 0


def test_gallery_by_the_model(model_client):
    body = model_client.get("/api/gallery", params={"sort": "model"}).json()
    assert body["has_model"] is True
    assert [im["model_rank"] for im in body["images"]] == list(range(1, 11))
    ids = [int(im["id"]) for im in body["images"]]
    assert ids == sorted(ids)
    assert [im["model_uncertainty"] for im in body["images"]] == [i / 10 for i in ids]
    apart = model_client.get("/api/gallery", params={"sort": "disagreement"}).json()
    assert apart["total"] == 10


def test_a_model_without_uncertainties_gives_the_gallery_none(rated):
    with local_client(RateSession(rated, seed=0, model_scores=model_scores(rated))) as c:
        body = c.get("/api/gallery", params={"sort": "model"}).json()
    assert all(im["model_score"] is not None for im in body["images"])
    assert all(im["model_uncertainty"] is None for im in body["images"])


def test_gallery_errors_have_the_one_shape(client):
    r = client.get("/api/gallery", params={"sort": "model"})
    assert r.status_code == 422
    assert r.json() == {
        "ok": False,
        "status": 422,
        "error": "sort=model needs a model in the loop; this session has none",
    }
    for params in ({"sort": "size"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
        r = client.get("/api/gallery", params=params)
        assert r.status_code == 422 and r.json()["ok"] is False, params


def test_thumbnails_are_small_cached_and_served_by_id_only(tmp_path):
    from tastemaker.storage.library import open_library

    root = tmp_path / "lib"
    root.mkdir()
    Image.new("RGB", (1600, 900), (200, 30, 30)).save(root / "big.jpg", quality=95)
    Image.new("RGBA", (800, 800), (20, 30, 200, 128)).save(root / "clear.png")
    Image.new("RGB", (100, 60), (20, 90, 200)).save(root / "small.png")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    with open_library(root) as lib:
        lib.scan()
        ids = {im.path: im.id for im in lib.store.images()}
        with local_client(RateSession(lib, seed=0)) as c:
            big = c.get(f"/api/thumb/{ids['big.jpg']}")
            assert big.status_code == 200 and big.headers["content-type"] == "image/jpeg"
            assert Image.open(BytesIO(big.content)).size == (THUMB_SIDE, 144)
            assert "max-age" in big.headers["cache-control"]
            cached = lib.cache_dir / f"thumb-{THUMB_SIDE}"
            assert [p.suffix for p in cached.iterdir()] == [".jpg"]
            assert c.get(f"/api/thumb/{ids['big.jpg']}").content == big.content
            clear = c.get(f"/api/thumb/{ids['clear.png']}")  # transparency kept: PNG
            assert clear.headers["content-type"] == "image/png"
            assert Image.open(BytesIO(clear.content)).size == (THUMB_SIDE, THUMB_SIDE)
            small = c.get(f"/api/thumb/{ids['small.png']}")  # already small: as it is
            assert small.content == (root / "small.png").read_bytes()
            for url in (
                "/api/thumb/99999",
                "/api/thumb/-1",
                "/api/thumb/..%2F..%2Fsecret.png",
                "/api/thumb/../secret.png",
                f"/api/thumb/{secret}",
            ):
                r = c.get(url)
                assert r.status_code in (404, 422), url
                assert r.content != secret.read_bytes()
            r = c.get("/api/thumb/99999")
            assert r.json() == {
                "ok": False,
                "status": 404,
                "error": "No image with id 99999 in this library.",
            }
            # a library file replaced by a link to a file outside is refused
            path = root / "small.png"
            path.unlink()
            os.symlink(secret, path)
            assert c.get(f"/api/thumb/{ids['small.png']}").status_code == 404


def test_the_pages_are_served(client):
    for url, title in (("/stats", "tastemaker · statistics"), ("/gallery", "tastemaker · gallery")):
        r = client.get(url)
        assert r.status_code == 200 and f"<title>{title}</title>" in r.text
    for script in ("charts.js", "stats.js", "gallery.js", "api.js", "format.js", "views.css"):
        assert client.get(f"/static/{script}").status_code == 200
    page = client.get("/").text
    assert 'href="/stats"' in page and 'href="/gallery"' in page
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/progress", "/api/gallery", "/api/thumb/{image_id}"} <= set(paths)


def test_pages_are_whole_documents_and_their_templates_are_not_served(client):
    for url in ("/", "/stats", "/gallery", "/docs"):
        text = client.get(url).text
        assert text.startswith("<!doctype html>") and "$" not in text, url
    for template in ("page.html", "view.html", "index.html", "stats.html"):
        assert client.get(f"/static/{template}").status_code == 404


def test_the_views_are_served_from_a_library_without_a_rating_session(rated):
    with TestClient(create_app(rated), base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/progress").json()["choices"] == 30
        body = c.get("/api/gallery").json()
        assert body["total"] == 10 and body["has_model"] is False
        first = body["images"][0]
        assert c.get(first["thumb"]).status_code == 200 and c.get(first["url"]).status_code == 200
        for url in ("/stats", "/gallery"):
            assert c.get(url).status_code == 200
        r = c.get("/", follow_redirects=False)
        assert r.status_code in (302, 307) and r.headers["location"] == "/stats"
        assert c.get("/api/next").status_code == 404
        paths = set(c.get("/openapi.json").json()["paths"])
        assert "/api/gallery" in paths and "/api/next" not in paths

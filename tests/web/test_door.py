"""The server refuses what is not the person's own page (issue #10): foreign Host, another
site's requests, non-JSON POSTs, oversized bodies, a missing token beyond loopback; every
error in the one shape and every response with the headers that keep other pages out."""

import re

import pytest
from conftest import local_client, make_images
from fastapi.testclient import TestClient

from tastemaker.storage.library import open_library
from tastemaker.web.app import create_app
from tastemaker.web.guard import MAX_BODY, Door
from tastemaker.workflows.rate import RateSession, RateSettings


@pytest.fixture
def session(library):
    return RateSession(library, RateSettings(repeats=0), seed=0)


@pytest.fixture
def client(session):
    with local_client(session) as c:
        yield c


def in_shape(r, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body == {"ok": False, "error": body["error"], "status": status}
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


def every_route(client) -> list[tuple[str, str]]:
    """(method, path) of every route: the API's from its OpenAPI document, and the pages."""
    s = client.get("/api/next").json()
    image = str(s["images"][0]["id"])
    routes = [
        (method.upper(), path.replace("{image_id}", image))
        for path, methods in client.get("/openapi.json").json()["paths"].items()
        for method in methods
    ]
    assert len(routes) >= 9
    pages = ["/", "/stats", "/gallery", "/docs", "/openapi.json", "/static/app.js"]
    return routes + [("GET", p) for p in [*pages, "/docs-assets/swagger-ui.css", "/nope"]]


def test_a_foreign_host_is_refused_on_every_route(client, library):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends
    Host: evil.example. It must read nothing and change nothing."""
    s = client.get("/api/next").json()
    client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})
    for method, path in every_route(client):
        for host in ("evil.example:8765", "evil.example", "10.1.2.3:8765", "127.0.0.1.nip.io"):
            r = client.request(method, path, headers={"Host": host}, json={})
            assert "not this server's address" in in_shape(r, 403), (method, path, host)
    assert len(library.store.comparisons()) == 1
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765", "127.0.0.2:8765"):
        assert client.get("/api/stats", headers={"Host": host}).status_code == 200


def test_another_sites_requests_are_refused(client, library):
    s = client.get("/api/next").json()
    choose = {"pair": s["pair"], "winner": s["images"][0]["id"]}
    for headers in (
        {"Origin": "http://127.0.0.1:9999"},  # another port: another origin
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a file: page
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},  # <img>, no Origin
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"},
    ):
        for method, path, body in (
            ("POST", "/api/choose", choose),
            ("POST", "/api/end", {}),
            ("GET", "/api/next", None),
            ("GET", s["images"][0]["url"], None),
        ):
            r = client.request(method, path, json=body, headers=headers)
            assert "another site" in in_shape(r, 403)
    assert library.store.comparisons() == []
    own = {"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/choose", json=choose, headers=own).status_code == 200
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert client.get("/", headers=link).status_code == 200  # a link to the page still works


@pytest.mark.parametrize(
    "content", [{}, {"content": b""}, {"data": {"choice": "1"}}, {"content": b'{"choice": 1}'}]
)
def test_a_post_must_carry_json(client, library, content):
    """A form or text/plain body (a CORS "simple request", sent cross-site without asking)
    never reaches a route, whatever it holds."""
    s = client.get("/api/next").json()
    client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})
    for path in ("/api/undo", "/api/end", "/api/choose"):
        for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
            headers = {"Content-Type": content_type} if content_type else {}
            r = client.post(path, headers=headers, **content)
            assert "Content-Type: application/json" in in_shape(r, 415)
    assert len(library.store.comparisons()) == 1
    assert client.post("/api/undo", json={}).status_code == 200


def test_a_body_over_the_limit_is_refused_before_a_route_runs(client, library):
    s = client.get("/api/next").json()
    big = b'{"pair": "%s", "winner": %d, "x": "' % (s["pair"].encode(), s["images"][0]["id"])
    for body in (big + b" " * MAX_BODY + b'"}', big + b" " * 10_000_000 + b'"}'):
        r = client.post("/api/choose", content=body, headers={"Content-Type": "application/json"})
        assert "64 KiB" in in_shape(r, 413)
        assert r.headers["connection"] == "close"

    def chunks():  # no Content-Length: the cap holds while the body streams in
        yield big
        for _ in range(100):
            yield b" " * 1024
        yield b'"}'

    r = client.post("/api/choose", content=chunks(), headers={"Content-Type": "application/json"})
    in_shape(r, 413)
    assert library.store.comparisons() == []


def test_every_error_has_the_one_shape(client, session):
    assert in_shape(client.get("/no/such/page"), 404)
    assert in_shape(client.get("/api/image/999999"), 404)
    assert in_shape(client.delete("/api/next"), 405)
    assert in_shape(client.get("/api/choose"), 405)
    in_shape(
        client.post("/api/choose", content=b"{", headers={"Content-Type": "application/json"}), 422
    )
    in_shape(client.get("/api/gallery", params={"limit": 0}), 422)
    huge = 2**63
    for path in (f"/api/image/{huge}", f"/api/thumb/{huge}", f"/api/image/{-huge - 1}"):
        in_shape(client.get(path), 422)
    in_shape(client.get("/api/gallery", params={"offset": huge}), 422)
    in_shape(client.post("/api/undo", json={"choice": huge}), 422)
    s = client.get("/api/next").json()
    in_shape(client.post("/api/choose", json={"pair": s["pair"], "winner": str(huge)}), 422)
    in_shape(client.post("/api/choose", json={"pair": s["pair"], "winner": "9" * 5000}), 422)
    r = client.post(
        "/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"], "ms": huge}
    )
    in_shape(r, 422)
    assert session.library.store.comparisons() == []


def test_an_unexpected_failure_is_a_500_in_the_shape(tmp_path):
    make_images(tmp_path / "lib", 4)
    library = open_library(tmp_path / "lib")  # closed below, not by a fixture
    library.scan()
    session = RateSession(library, seed=0)
    with local_client(session, raise_server_exceptions=False) as client:
        s = client.get("/api/next").json()
        library.store.close()  # every write now fails, as no route expects
        r = client.post("/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]})
        assert "Unexpected error in the server" in in_shape(r, 500)
        assert r.headers["x-content-type-options"] == "nosniff"


def test_every_response_keeps_other_pages_out(client):
    for method, path in every_route(client):
        r = client.request(method, path, json={})
        assert r.headers["x-frame-options"] == "DENY", path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no outside source
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_the_docs_page_loads_nothing_from_outside(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text and "<script>" not in page.text and "style=" not in page.text
    for asset in (
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
        "/static/docs.js",
    ):
        assert client.get(asset).status_code == 200
    assert "/openapi.json" in client.get("/static/docs.js").text
    assert client.get("/redoc").status_code == 404  # it would need inline styles


def test_the_static_pages_have_no_inline_script_or_style(client):
    """What the CSP would block: each page's scripts and styles are files of its own."""
    for page in ("/", "/stats", "/gallery", "/docs"):
        html = client.get(page).text
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", html), page
        for script in html.split("<script")[1:]:
            assert script.lstrip().startswith(("src=", 'type="module" src=')), page


def lan_client(session, token: str) -> TestClient:
    door = Door("0.0.0.0", token, frozenset({"studio", "studio.local"}))
    return TestClient(create_app(session, door=door), base_url="http://192.168.1.5:8765")


def test_beyond_loopback_the_token_is_asked_for(session, library):
    with lan_client(session, "s3cret-token") as client:
        r = client.get("/api/next")
        assert "token" in in_shape(r, 403)
        for wrong in ({"Authorization": "Bearer nope"}, {"Cookie": "tastemaker-token-8765=nope"}):
            in_shape(client.get("/api/next", headers=wrong), 403)
        in_shape(client.get("/api/next", params={"token": "nope"}), 403)
        in_shape(client.get("/", headers={"Host": "evil.example:8765"}), 403)
        assert library.store.comparisons() == []

        bearer = {"Authorization": "Bearer s3cret-token"}
        s = client.get("/api/next", headers=bearer).json()
        r = client.post(
            "/api/choose", json={"pair": s["pair"], "winner": s["images"][0]["id"]}, headers=bearer
        )
        assert r.status_code == 200

        # the printed URL: its first visit keeps the token in a cookie and drops it from
        # the address, and the page works from then on
        r = client.get("/?token=s3cret-token&x=1", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?x=1"
        cookie = r.headers["set-cookie"].lower()
        assert "tastemaker-token-8765=s3cret-token" in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/api/next").status_code == 200  # the client kept the cookie
        for host in ("studio:8765", "studio.local:8765", "192.168.1.5:8765", "localhost:8765"):
            assert client.get("/api/stats", headers={"Host": host}).status_code == 200

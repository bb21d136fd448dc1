"""The door of a real ``tastemaker rate`` process: slow connections are closed and cannot
crowd the person out, a huge body is refused unread, and a server bound beyond loopback
asks for its token and says who can reach it (issue #10). Traffic stays on 127.0.0.1."""

import os
import resource
import selectors
import socket
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import Server, make_images

from tastemaker.web.serve import MAX_CONNECTIONS


@pytest.fixture
def folder(tmp_path):
    make_images(tmp_path / "lib", 6)
    return tmp_path / "lib"


def port_of(url: str) -> int:
    return urlsplit(url).port


def closed_by_server(socks: list[socket.socket], within: float) -> set[socket.socket]:
    """Those of ``socks`` the server closes (EOF or reset) before ``within`` seconds pass."""
    closed: set[socket.socket] = set()
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                try:
                    data = key.fileobj.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    closed.add(key.fileobj)
                    sel.unregister(key.fileobj)
    return closed


def low_file_limit() -> None:
    """The server process may hold 200 files: fewer than the slow connections opened."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


def test_slow_connections_are_closed_and_the_page_stays_reachable(folder):
    """Issue #10: connections that never finish their headers were never closed, and
    enough of them made the page unreachable (out of file descriptors)."""
    server = Server(folder, preexec_fn=low_file_limit)
    port = port_of(server.url)
    slow = []
    try:
        for n in range(220):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:  # half send part of a request head, half nothing at all
                s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.get("/api/stats")  # the person's page, while the slow ones are open
            assert r.status_code == 200
            assert len(os.listdir(f"/proc/{server.process.pid}/fd")) < MAX_CONNECTIONS + 40
            assert closed_by_server(slow, within=60) == set(slow)
            assert client.get("/api/next").status_code == 200
        assert server.process.poll() is None
    finally:
        for s in slow:
            s.close()
        server.stop()
    _, err = server.output()
    assert "Too many open files" not in err


def test_a_huge_body_is_refused_before_it_is_read(folder):
    server = Server(folder)
    try:
        with socket.create_connection(("127.0.0.1", port_of(server.url)), timeout=30) as s:
            s.sendall(
                b"POST /api/undo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n{"
            )
            answer = s.makefile("rb").read()  # the server answers and closes: no 200 MB wait
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b'"status":413' in answer
    finally:
        server.stop()


def test_beyond_loopback_the_page_asks_for_its_token_and_warns(folder):
    server = Server(folder, "--host", "0.0.0.0")
    try:
        url = urlsplit(server.url)
        assert url.hostname != "0.0.0.0" and url.path == "/"
        (token,) = parse_qs(url.query)["token"]
        assert len(token) >= 32
        (warning,) = [line for line in server.printed if "Warning" in line]
        assert "anyone on a network that can reach this machine" in warning
        assert "plain HTTP" in warning
        here = f"http://127.0.0.1:{url.port}"  # never the printed address: tests stay local
        with httpx.Client(base_url=here, timeout=10) as client:
            r = client.get("/api/next")
            assert r.status_code == 403 and "token" in r.json()["error"]
            assert client.get("/api/gallery").status_code == 403
            assert client.post("/api/end", json={}).status_code == 403
            bearer = {"Authorization": f"Bearer {token}"}
            s = client.get("/api/next", headers=bearer).json()
            assert client.get(s["images"][0]["url"], headers=bearer).status_code == 200
            r = client.get(f"/?token={token}")
            assert r.status_code == 303 and r.headers["location"] == "/"
            assert client.get("/api/gallery").status_code == 200  # the cookie from then on
            foreign = client.get("/api/gallery", headers={"Host": "evil.example"})
            assert foreign.status_code == 403
        assert server.process.poll() is None
    finally:
        server.stop()

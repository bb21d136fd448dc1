"""Run the rating page: bind a port, print the URL, open the browser, serve until Ctrl-C
(ending rating on the page leaves the statistics and gallery served)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tastemaker.errors import TastemakerError
from tastemaker.web.app import create_app
from tastemaker.web.guard import WILDCARDS, Door, is_loopback
from tastemaker.workflows.rate import RateSession

DEFAULT_PORT = 8765
REQUEST_SECONDS = 5.0  # to send a whole request (head and body) once its first byte is due
MAX_CONNECTIONS = 64  # open at once; beyond, the longest-waiting idle one is closed
BACKLOG = 32  # also the most connections asyncio accepts at a time, before any is closed


class Connection(H11Protocol):
    """uvicorn's HTTP/1.1 connection with the limits it lacks (issue #10: 1,100 connections
    that never finished their headers made the page unreachable): a request not whole
    :data:`REQUEST_SECONDS` after the connection (or the previous answer) closes it, and at
    most :data:`MAX_CONNECTIONS` are open, a new one closing the oldest still waiting."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self.deadline = self.loop.time() + REQUEST_SECONDS
        self.timer: asyncio.TimerHandle | None = self.loop.call_at(self.deadline, self._late)
        if len(self.connections) > MAX_CONNECTIONS:
            waiting = [
                c
                for c in self.connections
                if isinstance(c, Connection) and c.waiting and not c.transport.is_closing()
            ]
            min(waiting, key=lambda c: c.deadline, default=self).transport.close()

    @property
    def waiting(self) -> bool:
        """Whether this connection's current request has not all arrived."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def data_received(self, data: bytes) -> None:
        if self.timer is None and self.waiting:
            self.deadline = self.loop.time() + REQUEST_SECONDS
            self.timer = self.loop.call_at(self.deadline, self._late)
        super().data_received(data)
        if self.timer is not None and not self.waiting:
            self.timer.cancel()
            self.timer = None

    def _late(self) -> None:
        self.timer = None
        if self.waiting:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        super().connection_lost(exc)


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``port``; with none given, the default or else any free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in [port] if port is not None else [DEFAULT_PORT, 0]:
        # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only for sockets
        # whose protocol says TCP; otherwise each kept-alive answer waits ~40 ms for an ACK
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as e:
            sock.close()
            if port is None and e.errno == errno.EADDRINUSE:
                continue
            raise TastemakerError(
                f"Cannot listen on {host}:{candidate} ({e.strerror}); "
                "choose another --port or leave it out to get a free one."
            ) from None
        sock.listen(128)
        return sock
    raise TastemakerError(f"No free port on {host}.")  # pragma: no cover - port 0 always binds


def reachable_name(host: str) -> str:
    """The name to print for a server bound to ``host``: for a wildcard, this machine's
    address on its network (a UDP connect sends nothing), else its host name."""
    if host not in WILDCARDS:
        return host
    family, probe = (
        (socket.AF_INET6, "2001:db8::1") if ":" in host else (socket.AF_INET, "192.0.2.1")
    )
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))  # documentation addresses
            address = s.getsockname()[0]
    except OSError:
        return socket.gethostname()
    return address if not ipaddress.ip_address(address).is_loopback else socket.gethostname()


def serve(
    session: RateSession,
    host: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the rating page for ``session``, and the statistics and gallery, until Ctrl-C.
    Beyond loopback, the page asks for a token made for this launch (in the printed URL)."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    name = reachable_name(host)
    url = f"http://{'[' + name + ']' if ':' in name else name}:{bound_port}/"
    door = Door(host)
    if not is_loopback(host):
        machine = socket.gethostname().lower()
        door = Door(host, secrets.token_urlsafe(24), frozenset({machine, f"{machine}.local"}))
        url += f"?token={door.token}"
        announce(
            f"Warning: on {host}, anyone on a network that can reach this machine can open "
            "this page with the address below (token included); it is plain HTTP, unencrypted."
        )
    ended = "Rating ended on the page; statistics and gallery are served until Ctrl-C."
    app = create_app(session, on_end=lambda: announce(ended), door=door)
    config = uvicorn.Config(
        app, http=Connection, backlog=BACKLOG, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    announce(url)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises Ctrl-C
        pass
    finally:
        sock.close()

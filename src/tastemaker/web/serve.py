"""Run the rating page: bind a port, print the URL, open the browser, serve until asked
to stop (Ctrl-C or the page's ``q``)."""

from __future__ import annotations

import errno
import socket
import threading
import webbrowser
from collections.abc import Callable

import uvicorn

from tastemaker.errors import TastemakerError
from tastemaker.rate import RateSession
from tastemaker.web.app import create_app

DEFAULT_PORT = 8765


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


def serve(
    session: RateSession,
    host: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the rating page for ``session`` until Ctrl-C or the page ends the session."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound_port}/"
    app = create_app(session, on_end=lambda: setattr(server, "should_exit", True))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    announce(url)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises Ctrl-C
        pass
    finally:
        sock.close()

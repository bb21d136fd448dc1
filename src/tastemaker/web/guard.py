"""The server's door: only the person's own page, and their own scripts, get in (issue #10).

Before any route sees a request: a ``Host`` that is not this server's address is refused
(DNS rebinding); a request another site's page sent is refused (by its ``Origin``, or the
``Sec-Fetch-Site`` a browser adds where it sends no Origin); a POST must carry JSON, so no
CORS "simple request" reaches a route; a body over :data:`MAX_BODY` is refused before it is
read; and, when the server is reachable beyond this machine, the per-launch token is asked
for. Every response carries the headers that keep other pages from framing or reading it.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # the largest request body; a choice is well under 1 KiB
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
PAGE_HEADER = "X-Tastemaker-Page"  # a tab's own id: its open sets are its own (rate.py)
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
     b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]  # fmt: skip


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The API's one error shape."""
    return JSONResponse({"ok": False, "error": message, "status": status}, status, headers)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, brackets allowed) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without port or brackets, lower case."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Door:
    """Who may come in: the address the server is bound to, the names that reach it
    besides (a wildcard bind: this machine's), and the token asked for beyond loopback."""

    host: str = "127.0.0.1"
    token: str | None = None
    names: frozenset[str] = frozenset()

    def admits(self, name: str) -> bool:
        """Whether a request for ``name`` (a Host) can be for this server and no other's
        page: an address (which no DNS answer can rebind) or one of its own names."""
        if name == "localhost" or name == self.host.strip("[]").lower() or name in self.names:
            return True
        return _is_address(name) and (is_loopback(name) or self.host in WILDCARDS)


class Guard:
    """ASGI middleware putting :class:`Door`'s rules before ``app``."""

    def __init__(self, app: ASGIApp, door: Door) -> None:
        self.app = app
        self.door = door

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in have]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        refusal = self._refusal(scope, Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send_guarded)
            return
        try:
            body = await _read_body(receive)
        except _TooLarge:
            await _too_large()(scope, receive, send_guarded)
            return
        if body is None:
            return  # the client left before its request was whole: nothing to do for it
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send_guarded)

    def _refusal(self, scope: Scope, headers: Headers) -> Response | None:
        """The answer to a request the door does not let through; None to let it in."""
        host = headers.get("host", "")
        if not self.door.admits(host_name(host)):
            return error_response(
                403, f"Host {host!r} is not this server's address; use the address it printed."
            )
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"{scope['scheme']}://{host}".lower():
            return error_response(403, f"Requests from another site ({origin}) are refused.")
        method = scope["method"]
        navigation = method == "GET" and headers.get("sec-fetch-mode") == "navigate"
        if headers.get("sec-fetch-site") in ("cross-site", "same-site") and not navigation:
            return error_response(403, "Requests from another site's page are refused.")
        if self.door.token is not None:
            refusal = self._token_refusal(scope, headers)
            if refusal is not None:
                return refusal
        if method == "POST":
            media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if media_type != "application/json":
                return error_response(
                    415, "Send the request body as JSON, with Content-Type: application/json."
                )
        length = headers.get("content-length", "0")
        if not (length.isascii() and length.isdigit()):
            return error_response(400, f"Content-Length {length[:20]!r} is not a number.")
        return _too_large() if len(length) > 9 or int(length) > MAX_BODY else None

    def _token_refusal(self, scope: Scope, headers: Headers) -> Response | None:
        """Let in a request that carries the token (cookie, bearer header or the printed
        URL's ``?token=``); the printed URL's first visit leaves the token in a cookie and
        goes on to the same page without it in the address bar."""
        token = self.door.token
        assert token is not None
        cookie = f"tastemaker-token-{scope['server'][1] if scope.get('server') else ''}"
        offered = [
            headers.get("authorization", "").removeprefix("Bearer ").strip(),
            _cookie(headers, cookie),
        ]
        if any(secrets.compare_digest(o.encode(), token.encode()) for o in offered if o):
            return None
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if any(
            k == "token" and secrets.compare_digest(v.encode(), token.encode()) for k, v in query
        ):
            if scope["method"] != "GET":
                return None
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            path = "/" + scope["path"].lstrip("/")  # never //elsewhere
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(cookie, token, httponly=True, samesite="strict")
            return response
        return error_response(
            403,
            "This server asks for its token: open the address it printed (with ?token=...) "
            "or send the header Authorization: Bearer TOKEN.",
        )


def _cookie(headers: Headers, name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class _TooLarge(Exception):
    pass


def _too_large() -> Response:
    # Connection: close, as the rest of the body is not read
    return error_response(
        413, f"The request body is over {MAX_BODY // 1024} KiB.", {"Connection": "close"}
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, read in full before any route runs, and never more than
    :data:`MAX_BODY` of it (whatever Content-Length said, or with none: chunked); None if
    the client left before sending it all."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)

"""Two ASGI middlewares that guard every route: the Bearer token and the request body size.

The token is checked on every path, the API docs and the web UI included. Programs send
`Authorization: Bearer <token>`; a browser cannot add that header to the UI's own requests, so `/login`
trades the token for an HttpOnly cookie that carries the same value.
"""

from __future__ import annotations

import hmac
import html
import json
from urllib.parse import parse_qs, quote, unquote

COOKIE = "vitascope_token"
LOGIN_PATH = "/login"


class BodyTooLargeError(Exception):
    """Raised from `receive` when a streamed body passes the limit; the API turns it into a 413."""


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


async def _send_json(send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _send_html(send, status: int, page: str, headers: list | None = None) -> None:
    body = page.encode()
    head = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies above `max_bytes`: at once when Content-Length says so, else while streaming."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _send_json(send, 400, "the Content-Length header is not a number")
            if int(length) > self.max_bytes:
                return await _send_json(
                    send,
                    413,
                    f"the request body is {length} bytes; this server accepts at most {self.max_bytes}",
                )
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(
                        f"the request body passed {self.max_bytes} bytes, this server's limit"
                    )
            return message

        await self.app(scope, limited, send)


class TokenAuth:
    """Require the token on every request except the login page itself."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    def _ok(self, scope) -> bool:
        auth = _header(scope, b"authorization") or ""
        if auth[:7].lower() == "bearer " and hmac.compare_digest(
            auth[7:].strip().encode(), self.token.encode()
        ):
            return True
        for part in (_header(scope, b"cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(unquote(value).encode(), self.token.encode()):
                return True
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == LOGIN_PATH and scope["type"] == "http":
            return await self._login(scope, receive, send)
        if self._ok(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        accept = _header(scope, b"accept") or ""
        if scope["method"] == "GET" and "text/html" in accept:  # a person in a browser: show the form
            target = f"{LOGIN_PATH}?next={quote(path)}"
            return await _send_html(send, 303, "", [(b"location", target.encode())])
        return await _send_json(
            send,
            401,
            "missing or wrong API token: send the header 'Authorization: Bearer <token>' with the --token "
            "given to `vitascope serve` (browsers: open /login)",
            [(b"www-authenticate", b"Bearer")],
        )

    async def _login(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        target = _safe_next(query.get("next", ["/"])[0])
        if scope["method"] != "POST":
            return await _send_html(send, 200, _login_page(target, ""))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > 8192:
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        given = form.get("token", [""])[0]
        target = _safe_next(form.get("next", [target])[0])
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return await _send_html(
                send, 401, _login_page(target, "Wrong token. Use the --token the server was started with.")
            )
        cookie = f"{COOKIE}={quote(given, safe='')}; Path=/; HttpOnly; SameSite=Strict"
        await _send_html(send, 303, "", [(b"location", target.encode()), (b"set-cookie", cookie.encode())])


def _safe_next(target: str) -> str:
    """Only same-site relative paths, so the login page cannot be used to redirect elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(target: str, error: str) -> str:
    msg = f'<p style="color:#b00">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Vitascope login</title></head>
<body style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h1>Vitascope</h1><p>This server needs its access token.</p>{msg}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="next" value="{html.escape(target)}">
<input type="password" name="token" placeholder="token" autofocus style="width:100%">
<p><button type="submit">Sign in</button></p></form></body></html>"""

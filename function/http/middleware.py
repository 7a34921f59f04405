"""Pure-ASGI middleware: bearer-token auth, request limits (body size, content type), per-route metrics.

Pure ASGI rather than BaseHTTPMiddleware so streamed responses are not buffered and the size limit is
enforced while the body is read, before it is held in memory. Errors answered here are rendered by the
same code as the routes' (``function.edge.errors``).

Imports ``function.edge`` and leaves; never ``function.events`` or the service layer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from function.auth import PROTECTED_PREFIX, TokenVerifier
from function.edge.errors import error_bytes
from function.errors import Kind, ServiceError
from function.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_error(send: Send, error: ServiceError, *, close: bool = True) -> None:
    """Answer before the app runs; ``close``: the body may not have been read, so end the connection."""
    status, headers, body = error_bytes(error)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> ServiceError:
    return ServiceError(Kind.TOO_LARGE, "request_too_large", f"The request body exceeds {limit} bytes.")


class _BodyTooLarge(Exception):
    pass


class LimitsMiddleware:
    """413 for bodies over ``max_body_bytes``; 415 for non-JSON bodies on JSON-only routes."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_paths: frozenset[str]) -> None:
        self.app, self.max_body_bytes, self.json_paths = app, max_body_bytes, json_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_error(send, _too_large(self.max_body_bytes))
            return
        if scope["path"] in self.json_paths:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                await _send_error(send, ServiceError(
                    Kind.UNSUPPORTED_MEDIA, "unsupported_media_type",
                    f"Send the body as application/json (got {ctype or 'no content type'!r})."))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_error(send, _too_large(self.max_body_bytes))


class AuthMiddleware:
    """401 with ``WWW-Authenticate: Bearer`` for /v1/* requests without a valid token."""

    def __init__(self, app: ASGIApp, *, verifier: TokenVerifier) -> None:
        self.app, self.verifier = app, verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            scope.setdefault("state", {})["claims"] = self.verifier.verify(header)
        except ServiceError as exc:
            await _send_error(send, exc, close=False)
            return
        await self.app(scope, receive, send)


class MetricsMiddleware:
    """Counts requests by route template (not raw path: bounded label cardinality) and times them to
    the last byte, which for streamed audio is what the caller experiences."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, skip: frozenset[str]) -> None:
        self.app, self.metrics, self.skip = app, metrics, skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, scope["method"], str(status)).inc()
            self.metrics.request_duration.labels(template).observe(time.perf_counter() - started)

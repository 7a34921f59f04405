"""Pure-ASGI middleware: bearer tokens and scopes, per-subject rate limits, request limits (body size,
content type), per-route metrics.

Pure ASGI rather than BaseHTTPMiddleware so streamed responses are not buffered and the size limit is
enforced while the body is read, before it is held in memory. Errors answered here are rendered by the
same code as the routes' (``function.edge.errors``).

Imports ``function.edge``, ``function.http.access`` (the route -> scope table) and leaves; never
``function.events`` or the service layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from function.auth import PROTECTED_PREFIX, TokenVerifier, require_scope, unauthorized
from function.edge.errors import error_bytes
from function.http.access import required_scope
from function.errors import Kind, ServiceError, shown
from function.metrics import Metrics
from function.ratelimit import TokenBucketLimiter

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_error(send: Send, error: ServiceError, *, close: bool = True, status: int | None = None) -> None:
    """Answer before the app runs; ``close``: the body may not have been read, so end the connection."""
    default, headers, body = error_bytes(error)
    status = status or default
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> ServiceError:
    return ServiceError(Kind.TOO_LARGE, "request_too_large", f"The request body exceeds {limit} bytes.")


class LimitsMiddleware:
    """Bounds what one request may cost before any route runs, with the documented JSON errors:

    - header block over ``max_header_bytes``: 431 ``headers_too_large``;
    - body over ``max_body_bytes`` (declared or chunked): 413 ``request_too_large``;
    - body not complete within ``body_timeout`` (a Content-Length larger than what is sent, a trickling
      client): 408 ``request_timeout``;
    - non-JSON body on a JSON-only route: 415 ``unsupported_media_type``.

    The body (at most ``max_body_bytes``) is read here and replayed to the app, so these answers come
    before a route or a framework body parser could turn them into something else.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_paths: frozenset[str],
                 max_header_bytes: int = 32 * 1024, body_timeout: float = 30.0,
                 body_limits: Mapping[str, int] | None = None) -> None:
        self.app, self.max_body_bytes, self.json_paths = app, max_body_bytes, json_paths
        self.body_limits = dict(body_limits or {})  # path -> its own body limit (reference clip uploads)
        self.max_header_bytes, self.body_timeout = max_header_bytes, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            await _send_error(send, ServiceError(Kind.TOO_LARGE, "headers_too_large",
                                                 f"The request headers exceed {self.max_header_bytes} bytes."),
                              status=431)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            await _send_error(send, _too_large(limit))
            return
        if scope["path"] in self.json_paths:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                await _send_error(send, ServiceError(
                    Kind.UNSUPPORTED_MEDIA, "unsupported_media_type",
                    f"Send the body as application/json (got {shown(ctype) if ctype else 'no content type'})."))
                return
        try:
            body = await asyncio.wait_for(self._read_body(receive, limit), timeout=self.body_timeout)
        except _BodyTooLarge:
            await _send_error(send, _too_large(limit))
            return
        except TimeoutError:
            await _send_error(send, ServiceError(Kind.INVALID, "request_timeout",
                                                 f"The request body was not complete within {self.body_timeout:g} s."),
                              status=408)
            return
        except _Disconnected:
            return
        if scope["path"] in self.json_paths and not _parses(body):
            await _send_error(send, ServiceError(Kind.INVALID, "invalid_json",
                                                 "The request body is not valid JSON (UTF-8, not nested too deeply)."))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: waits for the disconnect, as the server's would

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


def _parses(body: bytes) -> bool:
    """Whether the JSON parser the routes use can read the body. Checked here because the framework's
    own parser turns invalid UTF-8, 10,000-deep nesting or 5,000-digit numbers into an undocumented 400."""
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class _Stalled(Exception):
    """Raised into the server: it closes the connection of a client that stopped reading."""


class StallMiddleware:
    """Cuts off a client that reads nothing of a response for ``timeout`` seconds.

    A streamed response waits in ``send`` while the client's TCP window is full; without a bound, eight
    clients that never read hold eight slots forever. The aborted response's job is closed with it, which
    frees its slot; the cut is counted in ``emotivoice_stalled_streams_total``.
    """

    def __init__(self, app: ASGIApp, *, timeout: float, metrics: Metrics) -> None:
        self.app, self.timeout, self.metrics = app, timeout, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def bounded_send(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), timeout=self.timeout)
            except TimeoutError:
                self.metrics.stalled_streams.inc()
                raise _Stalled(f"client read nothing for {self.timeout:g} s") from None

        try:
            await self.app(scope, receive, bounded_send)
        except _Stalled as exc:
            log.warning("stalled client cut off", extra={"path": scope.get("path"), "reason": str(exc)})


def _header(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name]


class AuthMiddleware:
    """Bearer tokens, before any body is read.

    - ``api`` (EMOTIVOICE_AUTH=jwt): paths that ``function.http.access.required_scope`` names (``/v1/*``,
      ``/openapi.json``) need a valid JWT, and, with ``require_scopes``, the route's scope: 401 with
      ``WWW-Authenticate: Bearer`` otherwise, 403 ``insufficient_scope``. The claims go to
      ``scope["state"]["claims"]`` (the rate limiter's subject).
    - ``events`` (EMOTIVOICE_EVENT_AUTH=oidc): ``/`` (the CloudEvents ingress) needs a Knative Eventing OIDC
      sender token; its subject goes to ``scope["state"]["event_sender"]``.

    More than one Authorization header is refused (RFC 9110: it is a singleton field), so two proxies
    cannot disagree about which one counts.
    """

    def __init__(self, app: ASGIApp, *, api: TokenVerifier | None = None, events: TokenVerifier | None = None,
                 require_scopes: bool = True) -> None:
        self.app, self.api, self.events, self.require_scopes = app, api, events, require_scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        verifier: TokenVerifier | None = None
        needed = required_scope(path, scope["method"]) if self.api is not None else None
        if path == "/" and self.events is not None:
            verifier, needed = self.events, None
        elif needed is not None:
            verifier = self.api
        if verifier is None:
            await self.app(scope, receive, send)
            return
        headers = _header(scope, b"authorization")
        try:
            if len(headers) > 1:
                raise unauthorized("invalid_token", "Send one Authorization header, not several.")
            claims = await verifier.verify(headers[0] if headers else None)
            if needed is not None and self.require_scopes:
                require_scope(claims, needed)
        except ServiceError as exc:
            await _send_error(send, exc, close=False)
            return
        state = scope.setdefault("state", {})
        if verifier is self.events:
            state["event_sender"] = claims.get("sub")
        else:
            state["claims"] = claims
        await self.app(scope, receive, send)


class RateLimitMiddleware:
    """Per-subject token bucket on ``/v1/*`` (after auth): 429 ``rate_limited`` + ``Retry-After`` when the
    bucket is empty, and the IETF ``RateLimit-Policy`` / ``RateLimit`` fields on every answer it meters.

    The subject is the JWT's ``sub`` when auth put claims in the scope, else the client's address (behind
    Knative's queue-proxy that is the proxy's, so without auth all callers of a pod share one bucket).
    The CloudEvents ingress is not metered: the broker is one sender, and overload there is answered by
    the bounded queue with 429/503, which the broker retries with back-off.
    """

    def __init__(self, app: ASGIApp, *, limiter: TokenBucketLimiter) -> None:
        self.app, self.limiter = app, limiter

    @staticmethod
    def subject(scope: Scope) -> str:
        claims = scope.get("state", {}).get("claims")
        if isinstance(claims, dict) and isinstance(claims.get("sub"), str):
            return "sub:" + claims["sub"]
        client = scope.get("client")
        return "addr:" + (client[0] if client else "unknown")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        decision = self.limiter.take(self.subject(scope))
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in self.limiter.headers(decision)]
        if not decision.allowed:
            status, headers, body = error_bytes(self.limiter.rejection(decision))
            await send({"type": "http.response.start", "status": status, "headers": headers + extra})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


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

"""Which scope each HTTP route needs, in one table, for ``AuthMiddleware`` (with ``EMOTIVOICE_AUTH=jwt``).

Why a table at the edge rather than a dependency on each route: the middleware answers before any body
is read or any route code runs, and one table can be checked against the app's real routes (a test
fails when a ``/v1`` route is added without an entry). Unlisted ``/v1/*`` paths need ``admin``: a route
someone forgot to list fails closed, not open.

Paths outside ``/v1`` and not listed stay open: health and metrics (the kubelet and Prometheus carry no
tokens), the web playground (it holds nothing and calls the protected API), the CloudEvents ingress (it
has its own sender-token check, ``EMOTIVOICE_EVENT_AUTH``).

Imports leaves only.
"""

from __future__ import annotations

import re

from function.auth import PROTECTED_PREFIX, Scope

# Route template (as FastAPI declares it) -> the scope a token needs. Methods share their path's scope,
# except those in WRITE_SCOPES.
ROUTE_SCOPES: dict[str, Scope] = {
    "/v1/audio/speech": Scope.SYNTHESIZE,
    "/v1/synthesize": Scope.SYNTHESIZE,
    "/v1/audio/voices": Scope.VOICES,
    "/v1/audio/voices/{voice_id}": Scope.VOICES_WRITE,  # DELETE: a custom voice
    "/v1/models": Scope.VOICES,
    "/v1/batches": Scope.BATCHES,
    "/v1/batches/{batch_id}": Scope.BATCHES,
    # The API's description names every route and field; with auth on it is for operators.
    "/openapi.json": Scope.ADMIN,
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


# (method, route template) -> scope, where a method changes what its path's reads only look at: listing
# voices needs `voices`, creating a custom voice (it stores data and costs CPU) `voices:write`.
WRITE_SCOPES: dict[tuple[str, str], Scope] = {
    ("POST", "/v1/audio/voices"): Scope.VOICES_WRITE,
}

_COMPILED = [(_pattern(template), scope) for template, scope in ROUTE_SCOPES.items()]
_COMPILED_WRITES = [(method, _pattern(template), scope) for (method, template), scope in WRITE_SCOPES.items()]


def required_scope(path: str, method: str = "GET") -> Scope | None:
    """The scope ``method path`` needs, or None when the path is open (needs no token at all)."""
    for write_method, pattern, scope in _COMPILED_WRITES:
        if write_method == method.upper() and pattern.fullmatch(path):
            return scope
    for pattern, scope in _COMPILED:
        if pattern.fullmatch(path):
            return scope
    return Scope.ADMIN if path.startswith(PROTECTED_PREFIX) else None

"""Scopes per route (one table, function.http.access), and the API description following the auth setting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from function.auth import Scope, granted_scopes
from function.http.access import ROUTE_SCOPES, required_scope
from function.http.app import create_app
from function.settings import Settings
from tests.conftest import RunningServer, run_server
from tests.security.issuer import mint

SECRET = "scope-test-secret-of-more-than-32-bytes"

# One real request per route; "passes the gate" = neither 401 nor 403 (the route may still say 4xx).
REQUESTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "/v1/audio/speech": ("POST", "/v1/audio/speech", {"input": "hi", "voice": "alloy"}),
    "/v1/synthesize": ("POST", "/v1/synthesize", {"text": "hi"}),
    "/v1/audio/voices": ("GET", "/v1/audio/voices", None),
    "/v1/audio/voices/{voice_id}": ("DELETE", "/v1/audio/voices/cv-000000000000000000000000", None),
    "/v1/models": ("GET", "/v1/models", None),
    "/v1/batches": ("POST", "/v1/batches", {}),
    "/v1/batches/{batch_id}": ("GET", "/v1/batches/no-such-batch", None),
    "/openapi.json": ("GET", "/openapi.json", None),
}


def token(scope: Any = None, **claims: Any) -> str:
    if scope is not None:
        claims["scope"] = scope
    return mint(SECRET, "HS256", sub="scoped-client", **claims)


def call(srv: RunningServer, route: str, bearer: str | None) -> httpx.Response:
    method, path, body = REQUESTS[route]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.request(method, f"{srv.url}{path}", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET) as srv:
        yield srv


def test_the_table_lists_every_protected_route_and_nothing_else() -> None:
    """A /v1 route added without a table entry would need admin (fail closed); this test makes it visible."""
    app = create_app(Settings(engine="espeak", auth="jwt", jwt_secret=SECRET))
    routes = {path for path in app.openapi()["paths"] if path.startswith("/v1/")}
    assert routes | {"/openapi.json"} == set(ROUTE_SCOPES)
    assert set(REQUESTS) == set(ROUTE_SCOPES)
    assert {s for s in ROUTE_SCOPES.values()} == set(Scope)
    assert required_scope("/v1/batches/abc") is Scope.BATCHES
    assert required_scope("/v1/batches/abc/extra") is Scope.ADMIN  # unlisted /v1 path: fail closed
    assert required_scope("/health/readiness") is None and required_scope("/") is None


@pytest.mark.parametrize("route", sorted(REQUESTS))
def test_each_route_needs_its_scope(server: RunningServer, route: str) -> None:
    needed = ROUTE_SCOPES[route]
    others = " ".join(s.value for s in Scope if s not in (needed, Scope.ADMIN))
    assert call(server, route, token(needed.value)).status_code not in (401, 403)
    assert call(server, route, token(Scope.ADMIN.value)).status_code not in (401, 403)
    for bearer in (token(others), token()):  # the other scopes; no scope claim at all
        r = call(server, route, bearer)
        assert r.status_code == 403, (route, r.status_code, r.text)
        assert r.json()["error"]["code"] == "insufficient_scope"
        assert r.json()["error"]["type"] == "permission_error"
        assert r.headers["www-authenticate"] == (
            f'Bearer realm="emotivoice", error="insufficient_scope", scope="{needed.value}"')
    assert call(server, route, None).status_code == 401


def test_scope_claim_forms(server: RunningServer) -> None:
    route = "/v1/models"
    accepted = [token("voices"), token("  batches   voices "), token(None, scp=["voices"]), token(None, scp="voices"),
                token("synthesize", scp=["voices"])]
    for bearer in accepted:
        assert call(server, route, bearer).status_code == 200
    refused = [token(["voices"]), token(None, scp=[["voices"]]), token(None, scp={"voices": True}),
               token("voicesx"), token("VOICES"), token(None, scp=7)]
    for bearer in refused:
        assert call(server, route, bearer).status_code == 403


def test_granted_scopes_ignores_other_types() -> None:
    assert granted_scopes({"scope": "a b", "scp": ["c", 1, None]}) == {"a", "b", "c"}
    assert granted_scopes({"scope": 3, "scp": {"x": 1}}) == frozenset()


def test_unlisted_v1_path_needs_admin(server: RunningServer) -> None:
    url = f"{server.url}/v1/not-a-route"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token('synthesize voices batches')}"}).status_code == 403
    assert httpx.get(url, headers={"Authorization": f"Bearer {token('admin')}"}).status_code == 404


def test_scopes_can_be_switched_off() -> None:
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET, jwt_require_scopes=False) as srv:
        assert call(srv, "/v1/models", token()).status_code == 200
        assert call(srv, "/openapi.json", token()).status_code == 200
        assert call(srv, "/v1/models", None).status_code == 401


def test_api_description_follows_the_auth_setting(server: RunningServer) -> None:
    for page in ("/docs", "/redoc"):  # browser pages cannot send the bearer token: not served with auth on
        assert httpx.get(f"{server.url}{page}").status_code == 404
    assert call(server, "/openapi.json", None).status_code == 401
    assert call(server, "/openapi.json", token("synthesize voices batches")).status_code == 403
    schema = call(server, "/openapi.json", token("admin"))
    assert schema.status_code == 200 and "/v1/audio/speech" in schema.json()["paths"]
    with run_server(engine="espeak") as open_srv:
        assert httpx.get(f"{open_srv.url}/docs").status_code == 200
        assert httpx.get(f"{open_srv.url}/redoc").status_code == 200
        assert httpx.get(f"{open_srv.url}/openapi.json").status_code == 200


def test_open_paths_stay_open(server: RunningServer) -> None:
    for path in ("/health/liveness", "/health/readiness", "/metrics"):
        assert httpx.get(f"{server.url}{path}").status_code == 200

"""POST / (CloudEvents) with Knative Eventing OIDC sender tokens: a real issuer on loopback serving OIDC
discovery and a JWKS, RSA keys from ``cryptography``, tokens shaped like Kubernetes service-account tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from function.settings import Settings
from tests.conftest import RunningServer, run_server
from tests.security.issuer import IssuerServer, hmac_token, jwk, mint, public_pem, rsa_key

AUDIENCE = "emotivoice-events"
TRIGGER_SA = "system:serviceaccount:emotivoice:emotivoice-synthesis-requested-oidc-eventing.knative.dev-trigger"
SIGNER = rsa_key()


def event_headers(**extra: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": uuid.uuid4().hex, "ce-source": "/tests/security",
            "ce-type": "dev.emotivoice.synthesis.requested", "content-type": "application/json", **extra}


def deliver(srv: RunningServer, token: str | None, body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(f"{srv.url}/", headers={**(headers or event_headers()), **auth},
                      content=json.dumps(body or {"text": "hello"}), timeout=60)


def sender_token(issuer: IssuerServer, **claims: Any) -> str:
    """A token as Kubernetes' TokenRequest API issues it for the Trigger's OIDC service account."""
    base = {"iss": issuer.url, "aud": [AUDIENCE], "sub": TRIGGER_SA,
            "kubernetes.io": {"namespace": "emotivoice", "serviceaccount": {"name": "x", "uid": "y"}}}
    return mint(SIGNER, "RS256", kid=claims.pop("kid", "sa-key-1"), ttl=claims.pop("ttl", 600),
                **{**base, **claims})


@pytest.fixture(scope="module")
def issuer() -> Iterator[IssuerServer]:
    with IssuerServer([jwk(SIGNER, "sa-key-1", "RS256")]) as server:
        yield server


@pytest.fixture(scope="module")
def server(issuer: IssuerServer) -> Iterator[RunningServer]:
    with run_server(engine="espeak", event_auth="oidc", event_issuer=issuer.url, event_audience=AUDIENCE) as srv:
        yield srv


def test_a_valid_sender_token_reaches_the_ingress(server: RunningServer, issuer: IssuerServer) -> None:
    r = deliver(server, sender_token(issuer))
    assert r.status_code == 200, r.text
    assert r.headers["ce-type"] in ("dev.emotivoice.synthesis.completed", "dev.emotivoice.synthesis.failed")
    # A malformed event with a valid token gets the ingress's own 400: auth came first and passed.
    bad = event_headers()
    del bad["ce-id"]
    assert deliver(server, sender_token(issuer), headers=bad).status_code == 400


def test_deliveries_without_a_valid_token_are_refused(server: RunningServer, issuer: IssuerServer) -> None:
    other = rsa_key()
    cases = {
        "no token": (None, "missing_token"),
        "wrong audience": (sender_token(issuer, aud=["someone-else"]), "invalid_token"),
        "wrong issuer": (sender_token(issuer, iss="https://evil.example"), "invalid_token"),
        "expired": (sender_token(issuer, ttl=-120), "token_expired"),
        "unknown key, same kid": (mint(other, "RS256", kid="sa-key-1", iss=issuer.url, aud=AUDIENCE, sub=TRIGGER_SA),
                                  "invalid_token"),
        "HS256 with the public key": (hmac_token(public_pem(SIGNER).encode(), {"alg": "HS256", "kid": "sa-key-1"},
                                                 {"iss": issuer.url, "aud": AUDIENCE, "sub": TRIGGER_SA,
                                                  "exp": 2**31}), "invalid_token"),
        "no subject": (mint(SIGNER, "RS256", kid="sa-key-1", iss=issuer.url, aud=AUDIENCE), "invalid_token"),
    }
    for name, (token, code) in cases.items():
        r = deliver(server, token)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.json()["error"]["code"] == code, name
        assert r.headers["www-authenticate"].startswith('Bearer realm="emotivoice"'), name


def test_discovery_and_keys_are_fetched_once(server: RunningServer, issuer: IssuerServer) -> None:
    for _ in range(4):
        assert deliver(server, sender_token(issuer)).status_code == 200
    assert issuer.fetches["/.well-known/openid-configuration"] == 1
    assert issuer.fetches["/jwks"] == 1


def test_the_public_api_is_not_affected(server: RunningServer) -> None:
    """Event auth guards POST / only; /v1 follows EMOTIVOICE_AUTH (none here)."""
    assert httpx.get(f"{server.url}/v1/models").status_code == 200


def test_allowed_subjects(issuer: IssuerServer) -> None:
    pattern = "system:serviceaccount:emotivoice:*oidc-eventing.knative.dev-trigger*"
    with run_server(engine="espeak", event_auth="oidc", event_issuer=issuer.url, event_audience=AUDIENCE,
                    event_allowed_subjects=f" {pattern} , system:serviceaccount:other:exact") as srv:
        assert deliver(srv, sender_token(issuer)).status_code == 200
        assert deliver(srv, sender_token(issuer, sub="system:serviceaccount:other:exact")).status_code == 200
        r = deliver(srv, sender_token(issuer, sub="system:serviceaccount:emotivoice:default"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "sender_not_allowed"


def test_an_issuer_whose_discovery_names_someone_else_is_not_trusted() -> None:
    """OIDC Discovery 4.3: the document's issuer must be the configured one. Until it is, nobody can be
    verified: 503 + Retry-After, so the broker redelivers instead of dead-lettering good events."""
    with IssuerServer([jwk(SIGNER, "sa-key-1")], claimed_issuer="https://impostor.example") as impostor:
        with run_server(engine="espeak", event_auth="oidc", event_issuer=impostor.url,
                        event_audience=AUDIENCE) as srv:
            r = deliver(srv, sender_token(impostor))
            assert r.status_code == 503 and r.json()["error"]["code"] == "auth_keys_unavailable"
            assert "retry-after" in r.headers
            assert impostor.fetches["/jwks"] == 0


def test_keys_from_a_file_instead_of_discovery(tmp_path: Path, issuer: IssuerServer) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(SIGNER, "sa-key-1", "RS256")]}))
    with run_server(engine="espeak", event_auth="oidc", event_jwks=str(path), event_audience=AUDIENCE) as srv:
        assert deliver(srv, sender_token(issuer)).status_code == 200  # no issuer configured: not checked
        assert deliver(srv, sender_token(issuer, aud="x")).status_code == 401


def test_api_tokens_do_not_open_the_ingress(issuer: IssuerServer) -> None:
    secret = "api-secret-of-at-least-thirty-two-bytes"
    with run_server(engine="espeak", auth="jwt", jwt_secret=secret, event_auth="oidc", event_issuer=issuer.url,
                    event_audience=AUDIENCE) as srv:
        api_token = mint(secret, "HS256", sub="client", scope="synthesize voices batches admin")
        assert httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
        assert deliver(srv, api_token).status_code == 401
        assert deliver(srv, sender_token(issuer)).status_code == 200
        # ...and a sender token is no API token.
        r = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {sender_token(issuer)}"})
        assert r.status_code == 401


def test_event_auth_configuration_is_checked() -> None:
    with pytest.raises(ValidationError, match="EMOTIVOICE_EVENT_AUDIENCE"):
        Settings(event_auth="oidc", event_issuer="https://issuer.example")
    with pytest.raises(ValidationError, match="EMOTIVOICE_EVENT_ISSUER"):
        Settings(event_auth="oidc", event_audience=AUDIENCE)

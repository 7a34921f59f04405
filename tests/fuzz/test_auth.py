"""The Authorization header under fuzz with ``EMOTIVOICE_AUTH=jwt``: an HS256 secret of 32 bytes, and PEM
public keys of each family (RSA, EC P-256, Ed25519). Garbage, wrong schemes, forged tokens (``alg:
none``, other algorithms, another key of the same kind, HS256 "signed" with the public key as secret,
lying headers, mangled segments) and correctly signed tokens whose claims are arbitrary JSON (``exp`` as
a string, a list, 1e309 that parses as infinity...).

The rule (README "Configuration", ``EMOTIVOICE_AUTH``): a ``/v1/*`` request without a valid token is 401
with the JSON error body and ``WWW-Authenticate: Bearer``, whatever the header holds; a token not signed
with the configured key under that key's algorithm never gets through; only a properly signed one may
(then its claims and scopes decide: 401 or 403, or the route's answer). Health and metrics ignore the
header. Every answer obeys the invariant. Sent over raw sockets so header bytes outside latin-1 reach the
server as written. (Why the key families: which algorithm may verify is decided by the configured key,
and "some JWT algorithm/key combinations" reached unhandled exceptions in issue 14.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from tests.fuzz.conftest import JWT_SECRET, serve
from tests.fuzz.invariant import ServerLog, Target, fuzz_settings, violation
from tests.fuzz.rawhttp import request_head, send_raw
from tests.fuzz.strategies import field_value, header_values, json_values, short_text

ROUTES = {
    "GET /v1/models": ("GET", "/v1/models", b""),
    "POST /v1/audio/speech": ("POST", "/v1/audio/speech",
                              b'{"input": "Hi.", "voice": "alloy", "response_format": "wav"}'),
    "GET /v1/batches/x": ("GET", "/v1/batches/x", b""),
    "GET /health/readiness": ("GET", "/health/readiness", b""),
    "GET /metrics": ("GET", "/metrics", b""),
}
ALGORITHMS = ("none", "None", "NONE", "HS256", "hs256", "HS384", "HS512", "RS256", "RS512", "PS256", "ES256", "ES384",
              "ES256K", "EdDSA", "")
SCOPES = "synthesize voices batches"


@dataclass(frozen=True)
class KeyKind:
    """How the server is configured, and how a token is properly signed for it."""

    name: str
    alg: str  # the algorithm a properly signed token uses
    signing_key: Any  # the secret or private key
    other_key: Any  # a different key of the same kind: what a forger might have
    settings: dict[str, Any]
    public_pem: bytes = b""

    def sign(self, signing_input: bytes, key: Any = None, alg: str | None = None) -> bytes:
        algorithm = get_default_algorithms()[alg or self.alg]
        prepared = algorithm.prepare_key(key if key is not None else self.signing_key)
        return b64(algorithm.sign(signing_input, prepared))


def _pem(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def key_kind(name: str) -> KeyKind:
    if name == "hs256":
        return KeyKind(name, "HS256", JWT_SECRET, "y" * 32, {"jwt_secret": JWT_SECRET})
    private, other = {
        "rs256": lambda: (rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)),
        "es256": lambda: (ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())),
        "eddsa": lambda: (ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()),
    }[name]()
    pem = _pem(private)
    alg = {"rs256": "RS256", "es256": "ES256", "eddsa": "EdDSA"}[name]
    return KeyKind(name, alg, private, other, {"jwt_public_key": pem.decode()}, pem)


KINDS = ("hs256", "rs256", "es256", "eddsa")


@pytest.fixture(scope="module", params=KINDS)
def keyed(request: pytest.FixtureRequest, server_log: ServerLog) -> Iterator[tuple[KeyKind, Target]]:
    """A server with JWT auth configured with one key kind, and that kind's signer."""
    kind = key_kind(request.param)
    token = token_for(kind, {"sub": "fuzz", "exp": int(time.time()) + 3600, "scope": SCOPES})
    yield from ((kind, t) for t in serve(Target(server_log, f"auth=jwt {kind.name}", token=token, auth="jwt",
                                                queue_timeout_seconds=10, **kind.settings)))


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def token_for(kind: KeyKind, claims: dict[str, Any]) -> str:
    head = b64(json.dumps({"alg": kind.alg, "typ": "JWT"}).encode())
    signing_input = head + b"." + b64(json.dumps(claims).encode())
    return (signing_input + b"." + kind.sign(signing_input)).decode()


@st.composite
def claims(draw: st.DrawFn) -> dict[str, Any]:
    now = int(time.time())
    sensible = {"exp": now + 3600, "nbf": now - 10, "iat": now, "sub": "fuzz", "aud": "x", "iss": "y",
                "scope": SCOPES, "scp": ["synthesize", "voices"]}
    out: dict[str, Any] = {}
    for name, value in sensible.items():
        choice = draw(st.integers(0, 3))
        if choice == 1:
            out[name] = value
        elif choice == 2:
            out[name] = draw(json_values)
        elif choice == 3:
            out[name] = draw(st.sampled_from((float("inf"), float("-inf"), float("nan"), 10**30, -(10**30),
                                              "1e999", [now], {"$date": now}, now - 86400)))
    return out


@st.composite
def authorizations(draw: st.DrawFn, kind: KeyKind) -> tuple[bytes, bool]:
    """(Authorization header value, whether it is properly signed for ``kind``: its key, its algorithm)."""
    shape = draw(st.sampled_from(("garbage", "scheme", "forged", "forged", "signed", "signed", "mangled")))
    if shape == "garbage":
        return draw(header_values), False
    scheme = draw(st.sampled_from((b"Bearer", b"bearer", b"BEARER", b"Basic", b"Token", b"Bearer,", b"")))
    if shape == "scheme":
        return scheme + b" " + draw(header_values), False
    if shape == "mangled":  # not three base64url segments of JSON
        segment = st.one_of(st.binary(max_size=30).map(b64), st.sampled_from((b"!!!", b"e30=", b"W10", b"a" * 100_000,
                                                                               b64(b"[1, 2]"), b64(b'"str"'))),
                            short_text.map(lambda s: s.encode("utf-8", "surrogatepass")))
        return b"Bearer " + field_value(b".".join(draw(st.lists(segment, min_size=1, max_size=5)))), False
    alg = draw(st.one_of(st.just(kind.alg), st.sampled_from(ALGORITHMS), json_values))
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    for extra in draw(st.lists(st.sampled_from(("kid", "jku", "x5u", "jwk", "crit", "b64", "cty", "zip")),
                               max_size=2, unique=True)):
        header[extra] = draw(json_values)
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(draw(claims())).encode())
    if shape == "signed":
        return b"Bearer " + signing_input + b"." + kind.sign(signing_input), alg == kind.alg
    forgeries: list[Callable[[], bytes]] = [
        lambda: b"", lambda: b64(b"\x00" * 64), lambda: kind.sign(signing_input, kind.other_key),
        lambda: kind.sign(signing_input)[:-2],
        lambda: b64(hmac.new(kind.public_pem or b"k", signing_input, hashlib.sha256).digest()),  # alg confusion
        lambda: b64(hmac.new(b"", signing_input, hashlib.sha256).digest()),
    ]
    return scheme + b" " + signing_input + b"." + draw(st.sampled_from(forgeries))(), False


@fuzz_settings(max_examples=120)
@given(data=st.data(), route=st.sampled_from(tuple(ROUTES)), twice=st.booleans())
def test_authorization(keyed: tuple[KeyKind, Target], data: st.DataObject, route: str, twice: bool) -> None:
    """Protected routes: 401 + JSON + WWW-Authenticate unless the token is properly signed; open routes:
    the header changes nothing. Every answer obeys the invariant."""
    kind, target = keyed
    value, signed_right = data.draw(authorizations(kind), label="authorization")
    method, path, body = ROUTES[route]
    fields = [(b"authorization", value)] * (2 if twice else 1)
    if body:
        fields += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    what = f"[{kind.name}] {route} Authorization: {value[:300]!r}{' (sent twice)' if twice else ''}"
    answer = send_raw(target, request_head(method, path, fields, "127.0.0.1"), [body], what=what)
    if path.startswith("/v1/") and answer.status != 401 and not signed_right:
        raise violation(f"unauthenticated request got {answer.status}", f"{what}\n  -> {answer.excerpt()}")


def test_valid_token_passes(keyed: tuple[KeyKind, Target]) -> None:
    """The judge's reference point: a properly signed token with the scopes passes, so the 401s above are
    about the tokens, not a server that refuses everyone."""
    kind, target = keyed
    token = token_for(kind, {"sub": "fuzz", "exp": int(time.time()) + 3600, "scope": SCOPES})
    answer = target.request("GET", "/v1/models", headers={"authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.excerpt()
    assert jwt.get_unverified_header(token)["alg"] == kind.alg

"""Hypothesis over the Authorization header and the token's structure: whatever a client sends, the answer
is 401 (or the token's own 200/403), never a 500. Found 7 listed "some JWT algorithm/key combinations"
reaching 500; these properties find that family, not just the example.

Two levels: the verifiers directly (many cases, milliseconds each), then a real server with the API and
the event ingress both guarded (fewer cases, real HTTP). Bounded in count; no time assertions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from function.auth import AuthError, FileKeySet, StaticKey, TokenVerifier
from function.errors import Kind
from tests.conftest import RunningServer, run_server
from tests.security.issuer import ec_key, jwk, oct_jwk, public_pem, rsa_key

SECRET = "fuzz-secret-that-is-longer-than-32-bytes"
RSA, EC = rsa_key(), ec_key()
ALGORITHMS = sorted(get_default_algorithms())  # includes "none"
SIGNERS: dict[str, Any] = {"HS256": SECRET.encode(), "HS384": SECRET.encode(), "HS512": SECRET.encode(),
                           "RS256": RSA, "PS256": RSA, "RS512": RSA, "ES256": EC}
CLAIM_NAMES = ["exp", "nbf", "iat", "aud", "iss", "sub", "scope", "scp", "jti"]
HEADER_NAMES = ["alg", "kid", "typ", "crit", "jku", "x5c", "b64", "cty", "zip"]
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_HTTP = settings(FUZZ, max_examples=80)


def b64(data: bytes, pad: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
now = int(time.time())
claim_values = st.one_of(json_values, st.integers(min_value=now - 600, max_value=now + 600),
                         st.sampled_from(["emotivoice", "emotivoice-events", "synthesize voices", "admin"]))
payloads = st.one_of(json_values, st.dictionaries(st.sampled_from(CLAIM_NAMES) | st.text(max_size=6),
                                                  claim_values, max_size=8))
headers = st.dictionaries(st.sampled_from(HEADER_NAMES) | st.text(max_size=6),
                          st.one_of(st.sampled_from(ALGORITHMS + ["k1", "k2", "oct", "JWT"]), json_values),
                          max_size=5)


@st.composite
def structured_tokens(draw: st.DrawFn) -> str:
    """header.payload.signature with arbitrary JSON in the first two, signed for real (by a key the server
    trusts, or not) or carrying junk, with or without base64 padding."""
    header, payload, pad = draw(headers), draw(payloads), draw(st.booleans())
    if draw(st.booleans()):
        header["alg"] = draw(st.sampled_from(ALGORITHMS))
    signing_input = (f"{b64(json.dumps(header).encode(), pad)}."
                     f"{b64(json.dumps(payload).encode(), pad)}")
    how = draw(st.sampled_from(["real", "junk", "empty"]))
    if how == "real":
        alg = draw(st.sampled_from(sorted(SIGNERS)))
        algorithm = get_default_algorithms()[alg]
        signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(SIGNERS[alg]))
        return f"{signing_input}.{b64(signature, pad)}"
    if how == "junk":
        return f"{signing_input}.{b64(draw(st.binary(max_size=80)), pad)}"
    return f"{signing_input}."


tokens = st.one_of(structured_tokens(),
                   st.text(alphabet="ABCxyz019-_.=+/~ ", max_size=200),
                   st.text(max_size=200))
authorization = st.one_of(
    st.text(max_size=300),
    st.builds(lambda scheme, token: scheme + token,
              st.sampled_from(["Bearer ", "bearer ", "BEARER   ", "Bearer\t", "Basic ", "Bearer", "", " Bearer "]),
              tokens),
)


@pytest.fixture(scope="module")
def verifiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TokenVerifier]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(RSA, "k1"), jwk(EC, "k2", "ES256"), oct_jwk(SECRET.encode(), "oct")]}))
    return {
        "secret": TokenVerifier(StaticKey.secret(SECRET), audience="emotivoice"),
        "rsa-pem": TokenVerifier(StaticKey.public_pem(public_pem(RSA)), issuer="https://issuer.example"),
        "jwks-file": TokenVerifier(FileKeySet(path), audience="emotivoice-events", required_claims=("exp", "sub"),
                                   allowed_subjects=["system:serviceaccount:*"]),
    }


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.mark.parametrize("name", ["secret", "rsa-pem", "jwks-file"])
@FUZZ
@given(value=authorization)
def test_verifiers_answer_401_403_or_claims(verifiers: dict[str, TokenVerifier], loop: asyncio.AbstractEventLoop,
                                            name: str, value: str) -> None:
    try:
        claims = loop.run_until_complete(verifiers[name].verify(value))
    except AuthError as exc:
        assert exc.kind in (Kind.UNAUTHORIZED, Kind.FORBIDDEN)
        assert exc.challenge.startswith('Bearer realm="emotivoice"')
        return
    assert isinstance(claims, dict)  # anything else raised fails the test with its traceback


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path = tmp_path_factory.mktemp("fuzz-events") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(RSA, "k1"), jwk(EC, "k2")]}))
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET, event_auth="oidc", event_jwks=str(path),
                    event_audience="emotivoice-events") as srv:
        yield srv


# What RFC 9110 allows in a field value (VCHAR, obs-text, SP, HTAB). Control bytes are refused by the HTTP
# parser (uvicorn/httptools: plain-text 400) before any application code runs; not this test's subject.
field_bytes = st.lists(st.sampled_from([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)]), max_size=300).map(bytes)
header_bytes = st.one_of(
    field_bytes,
    st.builds(lambda scheme, token: scheme + field_value(token.encode("utf-8", "surrogatepass")),
              st.sampled_from([b"Bearer ", b"bearer ", b"Bearer\t", b"Basic "]), tokens),
)


def field_value(data: bytes) -> bytes:
    return bytes(b for b in data if b == 0x09 or 0x20 <= b != 0x7F)


@pytest.mark.parametrize("path", ["/v1/models", "/"])
@FUZZ_HTTP
@given(value=header_bytes, twice=st.booleans())
def test_server_never_answers_5xx_to_an_authorization_header(guarded: RunningServer, path: str, value: bytes,
                                                             twice: bool) -> None:
    headers = [(b"authorization", value)] * (2 if twice else 1)
    try:
        if path == "/":
            r = httpx.post(f"{guarded.url}/", headers=[*headers, (b"content-type", b"application/json")],
                           content=b"{}", timeout=10)
        else:
            r = httpx.get(f"{guarded.url}{path}", headers=headers, timeout=10)
    except httpx.LocalProtocolError:
        assume(False)  # bytes HTTP/1.1 cannot carry (CR, LF, NUL...): the client refuses to send them
        return
    assert r.status_code in (200, 401, 403), (r.status_code, r.text)
    if r.status_code != 200:
        error = r.json()["error"]
        assert error["code"] in ("missing_token", "invalid_token", "token_expired", "insufficient_scope",
                                 "sender_not_allowed")
        assert r.headers["www-authenticate"].startswith("Bearer")

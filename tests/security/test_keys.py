"""What may verify an API token: a long-enough secret, one key source, the key's own algorithm family only,
JWK Sets from a file or a URL with caching and rotation. Every case runs against a real server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from function.cli import main
from function.settings import MIN_HS256_SECRET_BYTES, Settings
from tests.conftest import run_server
from tests.security.issuer import IssuerServer, ec_key, hmac_token, jwk, mint, oct_jwk, public_pem, rsa_key

SECRET = "s" * MIN_HS256_SECRET_BYTES
ALL = "synthesize voices batches"


def get_models(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{url}/v1/models", headers=headers, timeout=10)


# --- configuration refused at start --------------------------------------------------------------------


def test_a_short_hs256_secret_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found 8: a 5-byte secret was accepted. Now the settings refuse it, naming the variable and the rule."""
    with pytest.raises(ValidationError, match=r"EMOTIVOICE_JWT_SECRET is 5 bytes; HS256 needs at least 32"):
        Settings(auth="jwt", jwt_secret="12345")
    monkeypatch.setenv("EMOTIVOICE_AUTH", "jwt")
    monkeypatch.setenv("EMOTIVOICE_JWT_SECRET", "12345")
    result = CliRunner().invoke(main, ["voices"])
    assert result.exit_code != 0
    assert "at least 32" in result.output and "Traceback" not in result.output
    # Bytes, not characters: 11 CJK characters are 33 bytes of UTF-8.
    assert Settings(auth="jwt", jwt_secret="密" * 11).jwt_secret
    assert Settings(auth="jwt", jwt_secret=SECRET).jwt_secret == SECRET
    with pytest.raises(ValidationError):
        Settings(auth="jwt", jwt_secret=SECRET[:-1])


def test_exactly_one_key_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        Settings(auth="jwt", jwt_secret=SECRET, jwt_public_key=public_pem(rsa_key()))
    with pytest.raises(ValidationError, match="exactly one of"):
        Settings(auth="jwt")


def test_a_weak_rsa_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="1024 bits"):
        with run_server(engine="espeak", auth="jwt", jwt_public_key=public_pem(rsa_key(1024))):
            pass


def test_a_key_set_of_only_symmetric_keys_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [oct_jwk(b"k" * 40, "oct-1")]}))
    with pytest.raises(ValueError, match="could not be loaded"):
        with run_server(engine="espeak", auth="jwt", jwt_jwks=str(path)):
            pass


# --- the key decides the algorithm, never the token ------------------------------------------------------


def test_rsa_public_key_accepts_its_family_only() -> None:
    private = rsa_key()
    pem = public_pem(private)
    other_ec = ec_key()
    with run_server(engine="espeak", auth="jwt", jwt_public_key=pem) as srv:
        assert get_models(srv.url, mint(private, "RS256", scope=ALL)).status_code == 200
        assert get_models(srv.url, mint(private, "PS256", scope=ALL)).status_code == 200
        rejected = {
            # algorithm confusion: HS256 "signed" with the public key as the HMAC secret
            "HS256 with the PEM as secret": hmac_token(pem.encode(), {"alg": "HS256", "typ": "JWT"},
                                                       {"sub": "x", "exp": 2**31, "scope": ALL}),
            # Found 7: an ES256 token against an RSA key raised InvalidKeyError -> 500
            "ES256 token, RSA key": mint(other_ec, "ES256", scope=ALL),
            "alg none": jwt_none({"sub": "x", "exp": 2**31, "scope": ALL}),
            "RS256 by another key": mint(rsa_key(), "RS256", scope=ALL),
        }
        for name, token in rejected.items():
            r = get_models(srv.url, token)
            assert r.status_code == 401, (name, r.status_code, r.text)
            assert r.json()["error"]["code"] == "invalid_token", name
            assert r.headers["www-authenticate"] == 'Bearer realm="emotivoice", error="invalid_token"'


def test_ec_public_key_accepts_its_curve_only() -> None:
    private = ec_key()
    with run_server(engine="espeak", auth="jwt", jwt_public_key=public_pem(private)) as srv:
        assert get_models(srv.url, mint(private, "ES256", scope=ALL)).status_code == 200
        assert get_models(srv.url, mint(ec_key(ec.SECP384R1()), "ES384", scope=ALL)).status_code == 401
        assert get_models(srv.url, mint(rsa_key(), "RS256", scope=ALL)).status_code == 401
        assert get_models(srv.url, mint(SECRET, "HS256", scope=ALL)).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")  # minting HS512 with it
def test_hs256_secret_accepts_hs256_only() -> None:
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET) as srv:
        assert get_models(srv.url, mint(SECRET, "HS256", scope=ALL)).status_code == 200
        assert get_models(srv.url, mint(SECRET, "HS512", scope=ALL)).status_code == 401
        assert get_models(srv.url, mint(rsa_key(), "RS256", scope=ALL)).status_code == 401
        assert get_models(srv.url, jwt_none({"exp": 2**31, "scope": ALL})).status_code == 401


def jwt_none(claims: dict[str, Any]) -> str:
    from tests.security.issuer import b64url

    return f"{b64url(json.dumps({'alg': 'none'}).encode())}.{b64url(json.dumps(claims).encode())}."


# --- JWK Set from a file -------------------------------------------------------------------------------


def write_key_set(path: Path, keys: list[dict[str, Any]]) -> None:
    """Replace the file atomically, as a ConfigMap volume update does (a new inode behind the name)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}))
    os.replace(tmp, path)


def test_key_set_file_with_rotation(tmp_path: Path) -> None:
    one, two = rsa_key(), ec_key()
    shared_secret = b"x" * 40
    path = tmp_path / "jwks.json"
    write_key_set(path, [jwk(one, "k1", "RS256"), oct_jwk(shared_secret, "oct-1")])
    with run_server(engine="espeak", auth="jwt", jwt_jwks=str(path)) as srv:
        assert get_models(srv.url, mint(one, "RS256", kid="k1", scope=ALL)).status_code == 200
        # The JWK says RS256: another RSA algorithm with the same key is refused.
        assert get_models(srv.url, mint(one, "PS256", kid="k1", scope=ALL)).status_code == 401
        # A symmetric key in a public key set would let anyone mint tokens: never used.
        assert get_models(srv.url, mint(shared_secret, "HS256", kid="oct-1", scope=ALL)).status_code == 401
        assert get_models(srv.url, mint(two, "ES256", kid="k2", scope=ALL)).status_code == 401  # not yet there
        write_key_set(path, [jwk(two, "k2")])  # rotation: k2 in, k1 out
        assert get_models(srv.url, mint(two, "ES256", kid="k2", scope=ALL)).status_code == 200
        r = get_models(srv.url, mint(one, "RS256", kid="k1", scope=ALL))
        assert r.status_code == 401 and "kid" in r.json()["error"]["message"]
        path.write_text("{half a file")  # a broken update keeps the last good keys
        assert get_models(srv.url, mint(two, "ES256", kid="k2", scope=ALL)).status_code == 200


def test_a_token_without_kid_needs_a_single_key_set(tmp_path: Path) -> None:
    one, two = rsa_key(), rsa_key()
    path = tmp_path / "jwks.json"
    write_key_set(path, [jwk(one, "k1")])
    with run_server(engine="espeak", auth="jwt", jwt_jwks=str(path)) as srv:
        assert get_models(srv.url, mint(one, "RS256", scope=ALL)).status_code == 200
        write_key_set(path, [jwk(one, "k1"), jwk(two, "k2")])
        assert get_models(srv.url, mint(one, "RS256", scope=ALL)).status_code == 401


# --- JWK Set from a URL --------------------------------------------------------------------------------


def test_key_set_url_is_cached_and_refetched_on_rotation() -> None:
    one, two, three = rsa_key(), rsa_key(), rsa_key()
    with IssuerServer([jwk(one, "k1")]) as issuer:
        with run_server(engine="espeak", auth="jwt", jwt_jwks=f"{issuer.url}/jwks") as srv:
            for _ in range(5):
                assert get_models(srv.url, mint(one, "RS256", kid="k1", scope=ALL)).status_code == 200
            assert issuer.fetches["/jwks"] == 1  # cached
            issuer.keys = [jwk(one, "k1"), jwk(two, "k2")]
            assert get_models(srv.url, mint(two, "RS256", kid="k2", scope=ALL)).status_code == 200
            assert issuer.fetches["/jwks"] == 2  # the unknown kid refetched once
            # Made-up kids within the cooldown cost no fetch: the issuer is not our amplifier.
            for i in range(5):
                assert get_models(srv.url, mint(three, "RS256", kid=f"nope-{i}", scope=ALL)).status_code == 401
            assert issuer.fetches["/jwks"] == 2


def test_unreachable_key_set_is_a_retryable_503() -> None:
    private = rsa_key()
    with IssuerServer([jwk(private, "k1")]) as issuer:
        issuer.status = 500
        with run_server(engine="espeak", auth="jwt", jwt_jwks=f"{issuer.url}/jwks") as srv:
            r = get_models(srv.url, mint(private, "RS256", kid="k1", scope=ALL))
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "auth_keys_unavailable"
            assert int(r.headers["retry-after"]) > 0
            assert issuer.url not in r.text  # where the keys live is logged, not told to callers

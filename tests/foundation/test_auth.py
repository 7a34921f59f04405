"""JWT bearer auth on /v1/*: the OpenAI SDK passes the token as its api_key; health and metrics stay open."""

from __future__ import annotations

import time

import httpx
import jwt
import openai
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from function.cli import main
from tests.conftest import run_server

SECRET = "test-secret-with-enough-length-for-hs256"


def token(key: object = SECRET, alg: str = "HS256", **claims: object) -> str:
    # Routes need scopes (tests/security covers them); these tests are about the token itself.
    return jwt.encode({"sub": "tester", "aud": "emotivoice", "exp": int(time.time()) + 300,
                       "scope": "synthesize voices batches", **claims}, key, alg)  # type: ignore[arg-type]


def test_hs256_tokens() -> None:
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET, jwt_audience="emotivoice") as srv:
        sdk = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=token(), max_retries=0)
        assert len(sdk.audio.speech.create(model="tts-1", voice="alloy", input="hello").content) > 1000
        speech = {"input": "hi", "voice": "alloy"}
        cases = {
            "no header": ({}, "missing_token"),
            "not bearer": ({"Authorization": "Basic abc"}, "invalid_token"),
            "garbage": ({"Authorization": "Bearer abc.def.ghi"}, "invalid_token"),
            "wrong secret": ({"Authorization": f"Bearer {token('another-secret-with-enough-length!!')}"},
                             "invalid_token"),
            "expired": ({"Authorization": f"Bearer {token(exp=int(time.time()) - 10)}"}, "token_expired"),
            "wrong audience": ({"Authorization": f"Bearer {token(aud='someone-else')}"}, "invalid_token"),
        }
        for name, (headers, code) in cases.items():
            r = httpx.post(f"{srv.url}/v1/audio/speech", json=speech, headers=headers)
            assert r.status_code == 401, name
            assert r.json()["error"]["code"] == code, name
            assert r.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{srv.url}/v1", api_key="not-a-jwt", max_retries=0).models.list()
        for open_path in ("/health/liveness", "/health/readiness", "/metrics"):
            assert httpx.get(f"{srv.url}{open_path}").status_code == 200
        assert 'status="401"' in httpx.get(f"{srv.url}/metrics").text


def test_rs256_public_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with run_server(engine="espeak", auth="jwt", jwt_public_key=public_pem) as srv:
        ok = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {token(private, 'RS256')}"})
        forged = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {token()}"})  # HS256
    assert ok.status_code == 200
    assert forged.status_code == 401


def test_jwt_without_key_is_a_clear_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTIVOICE_AUTH", "jwt")
    result = CliRunner().invoke(main, ["voices"])
    assert result.exit_code != 0
    assert "EMOTIVOICE_JWT_SECRET" in result.output and "Traceback" not in result.output

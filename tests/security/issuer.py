"""Test helpers: keys, JWKs, token minting, and a real OIDC issuer on a loopback port.

The issuer is a plain ``http.server`` in a thread serving ``/.well-known/openid-configuration`` and
``/jwks``, with keys the test can rotate and a count of every fetch, so caching and rotation are checked
against real HTTP rather than a mocked client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def public_pem(key: PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwk(key: PrivateKey, kid: str, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of a private key."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        data = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(public, as_dict=True)
    data["kid"] = kid
    if alg:
        data["alg"] = alg
    return data


def oct_jwk(secret: bytes, kid: str) -> dict[str, Any]:
    return {"kty": "oct", "kid": kid, "k": b64url(secret), "alg": "HS256"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(key: Any, alg: str = "RS256", kid: str | None = None, ttl: int = 300, **claims: Any) -> str:
    """A signed JWT with an expiry ``ttl`` seconds ahead (negative: already expired)."""
    body = {"exp": int(time.time()) + ttl, "iat": int(time.time()), **claims}
    return jwt.encode(body, key, alg, headers={"kid": kid} if kid else None)


def hmac_token(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token made by hand (PyJWT refuses to use a PEM as an HMAC secret, an attacker does not)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class IssuerServer:
    """A real OIDC issuer on 127.0.0.1: discovery document + JWKS, rotatable keys, fetch counts."""

    def __init__(self, keys: list[dict[str, Any]], *, claimed_issuer: str | None = None) -> None:
        self.keys = keys
        self.fetches: Counter[str] = Counter()
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner.fetches[self.path] += 1
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": claimed_issuer or owner.url, "jwks_uri": f"{owner.url}/jwks",
                                 "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == "/jwks":
                    body = {"keys": owner.keys}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(owner.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> IssuerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

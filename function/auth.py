"""JWT bearer authentication for the public API.

Checked at the edge (an ASGI middleware), before any body is read. Health, metrics and the CloudEvents
ingress stay open: the kubelet and Prometheus do not carry tokens, and broker deliveries arrive from inside
the cluster (restrict those with a NetworkPolicy). The OpenAI SDK sends its ``api_key`` as a bearer token,
so a client passes its JWT as the api key.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from function.settings import Settings

PROTECTED_PREFIX = "/v1/"


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        if settings.jwt_public_key:
            self._key: Any = settings.jwt_public_key
            self._algorithms = ["RS256", "ES256"]
        elif settings.jwt_secret:
            self._key = settings.jwt_secret
            self._algorithms = ["HS256"]
        else:
            raise ValueError("EMOTIVOICE_AUTH=jwt needs EMOTIVOICE_JWT_SECRET or EMOTIVOICE_JWT_PUBLIC_KEY")
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer

    def verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise AuthError("missing_token", "Send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("invalid_token", "The Authorization header must be 'Bearer <token>'.")
        try:
            return jwt.decode(  # type: ignore[no-any-return]
                token.strip(), self._key, algorithms=self._algorithms, audience=self._audience, issuer=self._issuer,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired", "The token has expired.") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid_token", f"The token was rejected: {exc}.") from None


class AuthMiddleware:
    """401 with ``WWW-Authenticate: Bearer`` for /v1/* requests without a valid token."""

    def __init__(self, app: Any, *, verifier: TokenVerifier) -> None:
        self.app, self.verifier = app, verifier

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            scope.setdefault("state", {})["claims"] = self.verifier.verify(header)
        except AuthError as exc:
            body = json.dumps({"error": {"code": exc.code, "message": exc.message, "param": None,
                                         "type": "authentication_error"}}).encode()
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", f'Bearer error="{exc.code}"'.encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

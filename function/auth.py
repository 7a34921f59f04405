"""JWT bearer token verification for the public API.

Checked at the edge (``function.http.middleware.AuthMiddleware``), before any body is read. Health, metrics and the CloudEvents
ingress stay open: the kubelet and Prometheus do not carry tokens, and broker deliveries arrive from inside
the cluster (restrict those with a NetworkPolicy). The OpenAI SDK sends its ``api_key`` as a bearer token,
so a client passes its JWT as the api key.

A leaf: owns token verification only; failures are ``ServiceError`` of kind ``unauthorized``. Imports
nothing of ours but ``function.errors`` and ``function.settings``.
"""

from __future__ import annotations

from typing import Any

import jwt

from function.errors import Kind, ServiceError
from function.settings import Settings

PROTECTED_PREFIX = "/v1/"


def _rejected(code: str, message: str) -> ServiceError:
    return ServiceError(Kind.UNAUTHORIZED, code, message)


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
            raise _rejected("missing_token", "Send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _rejected("invalid_token", "The Authorization header must be 'Bearer <token>'.")
        try:
            return jwt.decode(  # type: ignore[no-any-return]
                token.strip(), self._key, algorithms=self._algorithms, audience=self._audience, issuer=self._issuer,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _rejected("token_expired", "The token has expired.") from None
        except jwt.InvalidTokenError as exc:
            raise _rejected("invalid_token", f"The token was rejected: {exc}.") from None

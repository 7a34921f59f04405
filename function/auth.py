"""Bearer-token verification: the public API's JWTs and Knative Eventing's OIDC sender tokens.

Checked at the edge (``function.http.middleware.AuthMiddleware``), before any body is read:

- ``/v1/*`` and the OpenAPI schema, with ``EMOTIVOICE_AUTH=jwt``: a JWT from the API's issuer, verified
  with an HS256 secret, a PEM public key, or a JWKS (file or URL); then the route's scope
  (:class:`Scope`; the route table is ``function.http.access``). The OpenAI SDK sends its ``api_key`` as a
  bearer token, so a client passes its JWT as the api key.
- ``POST /`` (the CloudEvents ingress), with ``EMOTIVOICE_EVENT_AUTH=oidc``: the OIDC token Knative
  Eventing's dispatcher attaches when a Trigger's subscriber has an ``audience`` — a Kubernetes
  service-account token of the Trigger's own OIDC service account, checked against the configured
  audience, with the issuer's keys from OIDC discovery or a configured JWKS.

Why the care: a token is entirely client input, so every way it can be malformed is answered 401 (never a
500), and what may verify it is decided by the *configured key*, never by the token's ``alg`` header: an
HMAC secret accepts only HS256, an asymmetric key only its own family (RSA: RS*/PS*; EC: the curve's ES*;
Ed25519: EdDSA), ``none`` never. So a token "signed" HS256 with the public key as secret (algorithm
confusion) cannot pass, and a key set never yields a symmetric key. Key sets are fetched asynchronously
(no blocking I/O on the event loop), cached, and refetched when an unknown ``kid`` appears (key rotation),
at most once per cooldown so random ``kid`` values cannot turn us into a fetch amplifier; a key file is
reloaded when it changes. Keys that cannot be loaded at all are a retryable 503, not a 401: the caller's
token may be fine.

A leaf: owns token verification only; failures are ``ServiceError`` (``AuthError`` carries the RFC 6750
challenge). Imports nothing of ours but ``function.errors`` and ``function.settings``. PyJWT, cryptography
and httpx are imported where a token is verified or a key loaded, never at module level: the scopes, the
errors and the route table need none of them, and a server with auth off never pays their import at start.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from function.errors import Kind, ServiceError

if TYPE_CHECKING:
    from function.settings import Settings

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"
REALM = "emotivoice"
# A JWT is three base64url segments; anything longer than this is not a token we issued to anyone.
MAX_TOKEN_CHARS = 16 * 1024
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Key sets: a response larger than this is not a key set; fetches give up after this long.
MAX_KEY_SET_BYTES = 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
# An unknown kid refetches the key set at most once per this many seconds (rotation is rare; a flood of
# made-up kids must not become a flood of fetches to the issuer).
UNKNOWN_KID_COOLDOWN_SECONDS = 30.0
# After a failed fetch, wait this long before trying again (callers get 503 + Retry-After meanwhile).
FAILED_FETCH_RETRY_SECONDS = 5
MIN_RSA_BITS = 2048

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512", "secp256k1": "ES256K"}
ASYMMETRIC_ALGORITHMS = _RSA_ALGORITHMS | frozenset(_EC_ALGORITHMS.values()) | {"EdDSA"}


class Scope(StrEnum):
    """What a token may do. A route needs exactly one (``function.http.access``); ``admin`` satisfies all."""

    SYNTHESIZE = "synthesize"  # /v1/audio/speech, /v1/synthesize
    BATCHES = "batches"  # /v1/batches, /v1/batches/{id}
    VOICES = "voices"  # /v1/audio/voices, /v1/models
    VOICES_WRITE = "voices:write"  # POST /v1/audio/voices, DELETE /v1/audio/voices/{id} (custom voices)
    ADMIN = "admin"  # /openapi.json, unlisted /v1 routes; implies every other scope


class AuthError(ServiceError):
    """A 401/403 with its RFC 6750 ``WWW-Authenticate`` challenge (rendered by ``function.edge.errors``)."""

    def __init__(self, kind: Kind, code: str, message: str, *, challenge: str) -> None:
        super().__init__(kind, code, message)
        self.challenge = challenge


def unauthorized(code: str, message: str) -> AuthError:
    """401. RFC 6750: no ``error`` attribute when no credentials were sent, ``invalid_token`` otherwise
    (the specific reason is in the body's ``code``)."""
    challenge = f'Bearer realm="{REALM}"'
    if code != "missing_token":
        challenge += ', error="invalid_token"'
    return AuthError(Kind.UNAUTHORIZED, code, message, challenge=challenge)


def keys_unavailable() -> ServiceError:
    """The issuer's keys cannot be loaded: nobody can be verified now, so retry (the token may be fine)."""
    return ServiceError(Kind.UNAVAILABLE, "auth_keys_unavailable",
                        "The token issuer's signing keys could not be loaded; try again later.",
                        retry_after=FAILED_FETCH_RETRY_SECONDS)


# --- scopes ------------------------------------------------------------------------------------------


def granted_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The scopes a token grants: OAuth 2.0's ``scope`` claim, a space-separated string (RFC 8693 4.2,
    RFC 9068), and the ``scp`` claim some issuers use instead (Azure AD, Okta), a list of strings or a
    space-separated string. Values of any other shape grant nothing; names are case-sensitive."""
    granted: set[str] = set()
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        granted.update(scope.split())
    if isinstance(scp, str):
        granted.update(scp.split())
    elif isinstance(scp, list):
        granted.update(v for v in scp if isinstance(v, str))
    return frozenset(granted)


def require_scope(claims: dict[str, Any], needed: Scope) -> None:
    """403 ``insufficient_scope`` unless the token grants ``needed`` (or ``admin``)."""
    granted = granted_scopes(claims)
    if needed.value in granted or Scope.ADMIN.value in granted:
        return
    raise AuthError(Kind.FORBIDDEN, "insufficient_scope",
                    f"This call needs a token with the '{needed.value}' scope.",
                    challenge=f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed.value}"')


# --- keys --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationKey:
    """A key and the algorithms it may verify (decided by the key, never by the token)."""

    key: Any
    algorithms: frozenset[str]


class KeySource(Protocol):
    async def resolve(self, kid: str | None) -> VerificationKey:
        """The key for a token's ``kid``: 401 for an unknown kid, 503 when no keys can be loaded."""
        ...


def algorithms_for(key: Any) -> frozenset[str]:
    """The JWS algorithms an asymmetric public key can verify."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _EC_ALGORITHMS.get(key.curve.name)
        if alg is None:
            raise ValueError(f"unsupported elliptic curve {key.curve.name}")
        return frozenset({alg})
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return frozenset({"EdDSA"})
    raise ValueError(f"not an asymmetric public key: {type(key).__name__}")


def _check_strength(key: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")


class StaticKey:
    """One configured key (an HS256 secret or a PEM public key): every token is checked against it."""

    def __init__(self, key: VerificationKey) -> None:
        self._key = key

    @classmethod
    def secret(cls, secret: str) -> StaticKey:
        return cls(VerificationKey(secret.encode(), frozenset({"HS256"})))

    @classmethod
    def public_pem(cls, pem: str) -> StaticKey:
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_public_key(pem.encode())
            algorithms = algorithms_for(key)
            _check_strength(key)
        except ValueError as exc:
            raise ValueError(f"EMOTIVOICE_JWT_PUBLIC_KEY is not a usable PEM public key: {exc}") from None
        return cls(VerificationKey(key, algorithms))

    async def resolve(self, kid: str | None) -> VerificationKey:
        return self._key


def parse_key_set(raw: bytes | str) -> dict[str | None, VerificationKey]:
    """A JWK Set's usable verification keys by ``kid`` (RFC 7517). Symmetric (``oct``) keys, encryption
    keys and keys whose ``alg`` does not fit their type are skipped: a key set published by an issuer is
    public, so a symmetric key in it would let anyone mint tokens. Raises ValueError if nothing is usable."""
    import jwt

    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('not a JWK Set (expected {"keys": [...]})')
    keys: dict[str | None, VerificationKey] = {}
    for jwk in data["keys"]:
        try:
            found = _jwk_key(jwk)
        except (ValueError, TypeError, KeyError, jwt.PyJWTError) as exc:
            log.warning("skipping an unusable key in the key set", extra={"error": str(exc)})
            continue
        if found is not None:
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
            keys[kid] = found
    if not keys:
        raise ValueError("the key set has no usable asymmetric signing key")
    return keys


def _jwk_key(jwk: Any) -> VerificationKey | None:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
        return None
    loaders: dict[str, Callable[[Any], Any]] = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk,
                                                "OKP": OKPAlgorithm.from_jwk}
    loader = loaders.get(jwk.get("kty"))  # type: ignore[arg-type]
    if loader is None:
        return None  # "oct" and anything unknown: never a verification key here
    key = loader(jwk)
    if hasattr(key, "public_key"):  # a private JWK published by mistake: use only its public half
        key = key.public_key()
    algorithms = algorithms_for(key)
    _check_strength(key)
    alg = jwk.get("alg")
    if alg is not None:
        if alg not in algorithms:
            raise ValueError(f"key {jwk.get('kid')!r}: alg {alg!r} does not fit a {jwk.get('kty')} key")
        algorithms = frozenset({alg})
    return VerificationKey(key, algorithms)


def _pick(keys: dict[str | None, VerificationKey], kid: str | None) -> VerificationKey | None:
    if kid is not None:
        return keys.get(kid)
    if len(keys) == 1:  # a token without kid is fine when there is only one key it could mean
        return next(iter(keys.values()))
    raise unauthorized("invalid_token", "The token has no 'kid' header and the issuer has several keys.")


class FileKeySet:
    """A JWKS file (e.g. a mounted ConfigMap). Reloaded when it changes (one ``stat`` per verification),
    so a rotated key is used by the first token that carries its ``kid`` and a removed key stops working."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str | None, VerificationKey] | None = None
        self._error = ""
        self._reload()
        if self._keys is None:
            raise ValueError(f"JWKS file {path} could not be loaded: {self._error}")

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._failed(str(exc))
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a broken version is parsed once, not on every request
        try:
            if st.st_size > MAX_KEY_SET_BYTES:
                raise ValueError(f"larger than {MAX_KEY_SET_BYTES} bytes")
            keys = parse_key_set(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            self._failed(str(exc))
            return
        self._keys, self._error = keys, ""

    def _failed(self, error: str) -> None:
        """Keep the keys we have (a half-written file must not lock everyone out); log each new problem once."""
        if error != self._error:
            log.warning("could not load the JWKS file", extra={"path": str(self.path), "error": error})
        self._error = error

    async def resolve(self, kid: str | None) -> VerificationKey:
        self._reload()
        if self._keys is None:
            raise keys_unavailable()
        found = _pick(self._keys, kid)
        if found is None:
            raise unauthorized("invalid_token", "The token's 'kid' names no key of the issuer.")
        return found


async def fetch_json(url: str) -> Any:
    """GET a small JSON document, asynchronously, size-capped. Raises ValueError on any failure."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
            async with client.stream("GET", url, headers={"accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise ValueError(f"{url} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_KEY_SET_BYTES:
                        raise ValueError(f"{url} sent more than {MAX_KEY_SET_BYTES} bytes")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:  # jwks_uri comes from outside
        raise ValueError(f"{url}: {type(exc).__name__}: {exc}") from None
    try:
        return json.loads(bytes(body))
    except ValueError as exc:
        raise ValueError(f"{url} did not answer JSON: {exc}") from None


class UrlKeySet:
    """A JWKS at a URL: cached for ``cache_seconds``, refetched early when a token names an unknown
    ``kid`` (at most once per :data:`UNKNOWN_KID_COOLDOWN_SECONDS`), one fetch at a time. If a refetch
    fails the cached keys stay in use; with no keys at all callers get 503."""

    def __init__(self, url: str, cache_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._keys: dict[str | None, VerificationKey] | None = None
        self._fetched_at = -float("inf")
        self._failed_at = -float("inf")
        self._unknown_kid_refresh_at = -float("inf")
        self._lock = asyncio.Lock()

    async def _jwks_url(self) -> str:
        return self.url

    async def _refresh(self) -> None:
        started = self._clock()
        async with self._lock:
            if self._fetched_at >= started or self._failed_at >= started:
                return  # another caller fetched while we waited
            try:
                url = await self._jwks_url()
                data = await fetch_json(url)
                self._keys = parse_key_set(json.dumps(data))
                self._fetched_at = self._clock()
            except ValueError as exc:
                self._failed_at = self._clock()
                log.warning("could not fetch the issuer's keys", extra={"url": self.url, "error": str(exc)})

    async def resolve(self, kid: str | None) -> VerificationKey:
        now = self._clock()
        stale = now - self._fetched_at > self.cache_seconds
        if (self._keys is None or stale) and now - self._failed_at >= FAILED_FETCH_RETRY_SECONDS:
            await self._refresh()
        if self._keys is None:
            raise keys_unavailable()
        found = _pick(self._keys, kid)
        if found is None and self._clock() - self._unknown_kid_refresh_at >= UNKNOWN_KID_COOLDOWN_SECONDS:
            self._unknown_kid_refresh_at = self._clock()
            await self._refresh()
            found = _pick(self._keys, kid)
        if found is None:
            raise unauthorized("invalid_token", "The token's 'kid' names no key of the issuer.")
        return found


class DiscoveryKeySet(UrlKeySet):
    """An OIDC issuer's keys: ``<issuer>/.well-known/openid-configuration`` names the ``jwks_uri``
    (OpenID Connect Discovery 1.0). The document's ``issuer`` must equal the configured one (§4.3), else
    the keys are refused: they would belong to someone else."""

    def __init__(self, issuer: str, cache_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(issuer.rstrip("/") + "/.well-known/openid-configuration", cache_seconds, clock=clock)
        self.issuer = issuer

    async def _jwks_url(self) -> str:
        doc = await fetch_json(self.url)
        if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
            raise ValueError(f"{self.url} has no jwks_uri")
        if doc.get("issuer") != self.issuer:
            raise ValueError(f"{self.url} names issuer {doc.get('issuer')!r}, not {self.issuer!r}")
        uri: str = doc["jwks_uri"]
        if not uri.startswith(("https://", "http://")):
            raise ValueError(f"jwks_uri {uri!r} is not an http(s) URL")
        return uri


def key_set(location: str, cache_seconds: float) -> KeySource:
    """A JWKS from an http(s) URL or a file path."""
    if location.startswith(("https://", "http://")):
        return UrlKeySet(location, cache_seconds)
    return FileKeySet(Path(location))


# --- verification ------------------------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value, or 401."""
    if authorization is None or not authorization.strip():
        raise unauthorized("missing_token", "Send 'Authorization: Bearer <token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("invalid_token", "The Authorization header must be 'Bearer <token>'.")
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise unauthorized("invalid_token", "The bearer token is not a JWT (three base64url segments).")
    return token


class TokenVerifier:
    """Verifies bearer JWTs against one key source, audience, issuer and (optionally) allowed subjects."""

    def __init__(self, keys: KeySource, *, audience: str | None = None, issuer: str | None = None,
                 leeway_seconds: float = 0, required_claims: Iterable[str] = ("exp",),
                 allowed_subjects: Iterable[str] = ()) -> None:
        self.keys = keys
        self._audience, self._issuer, self._leeway = audience, issuer, leeway_seconds
        self._required = list(required_claims)
        self._subjects = tuple(allowed_subjects)

    @classmethod
    def for_api(cls, settings: Settings) -> TokenVerifier:
        """``EMOTIVOICE_AUTH=jwt``: exactly one of secret / public key / JWKS (Settings checks it)."""
        keys: KeySource
        if settings.jwt_jwks:
            keys = key_set(settings.jwt_jwks, settings.jwt_jwks_cache_seconds)
        elif settings.jwt_public_key:
            keys = StaticKey.public_pem(settings.jwt_public_key)
        elif settings.jwt_secret:
            keys = StaticKey.secret(settings.jwt_secret)
        else:
            raise ValueError("EMOTIVOICE_AUTH=jwt needs EMOTIVOICE_JWT_SECRET, EMOTIVOICE_JWT_PUBLIC_KEY or "
                             "EMOTIVOICE_JWT_JWKS")
        return cls(keys, audience=settings.jwt_audience, issuer=settings.jwt_issuer,
                   leeway_seconds=settings.jwt_leeway_seconds)

    @classmethod
    def for_events(cls, settings: Settings) -> TokenVerifier:
        """``EMOTIVOICE_EVENT_AUTH=oidc``: Knative Eventing's sender tokens (Kubernetes service-account
        tokens: RS256/ES256, ``sub`` = ``system:serviceaccount:<namespace>:<name>``)."""
        keys: KeySource
        if settings.event_jwks:
            keys = key_set(settings.event_jwks, settings.jwt_jwks_cache_seconds)
        elif settings.event_issuer:
            keys = DiscoveryKeySet(settings.event_issuer, settings.jwt_jwks_cache_seconds)
        else:
            raise ValueError("EMOTIVOICE_EVENT_AUTH=oidc needs EMOTIVOICE_EVENT_JWKS or EMOTIVOICE_EVENT_ISSUER")
        subjects = [s.strip() for s in (settings.event_allowed_subjects or "").split(",") if s.strip()]
        return cls(keys, audience=settings.event_audience, issuer=settings.event_issuer,
                   leeway_seconds=settings.jwt_leeway_seconds, required_claims=("exp", "sub"),
                   allowed_subjects=subjects)

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or AuthError 401/403, or ServiceError 503 (keys unavailable)."""
        import jwt

        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("invalid_token", "The token's header is not valid.") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or not (kid is None or isinstance(kid, str)):
            raise unauthorized("invalid_token", "The token's 'alg' or 'kid' header is not a string.")
        key = await self.keys.resolve(kid)
        if alg not in key.algorithms:
            raise unauthorized("invalid_token", f"Tokens signed with {alg[:20]!r} are not accepted here.")
        claims = self._decode(token, key.key, alg)
        if self._subjects:
            subject = claims["sub"]
            if not any(fnmatch.fnmatchcase(subject, pattern) for pattern in self._subjects):
                raise AuthError(Kind.FORBIDDEN, "sender_not_allowed", "The token's subject may not send here.",
                                challenge=f'Bearer realm="{REALM}", error="insufficient_scope"')
        return claims

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        import jwt

        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                                leeway=self._leeway,
                                options={"require": self._required, "verify_aud": self._audience is not None})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired", "The token has expired.") from None
        except jwt.PyJWTError as exc:
            raise unauthorized("invalid_token", f"The token was rejected: {str(exc)[:200]}.") from None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError, UnicodeError) as exc:
            # Library paths we did not foresee on hostile input: still the client's token, still a 401.
            log.warning("token verification raised", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            raise unauthorized("invalid_token", "The token was rejected.") from None
        if not isinstance(claims, dict):
            raise unauthorized("invalid_token", "The token's claims are not a JSON object.")
        return claims

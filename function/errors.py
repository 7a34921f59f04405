"""The one error model: every failure below the interfaces is a :class:`ServiceError` with a ``kind``.

A failure has three views that must agree: the HTTP status and error body a caller sees, the CloudEvents
answer the Kafka broker acts on (redeliver or dead-letter / ``*.failed`` reply), and the CLI's exit
status. All three follow from the ``kind`` alone, so each edge maps kinds in one place and no layer
translates another layer's exceptions by hand. ``code`` is the stable, machine-readable, documented
name of the failure (``unknown_voice``, ``queue_timeout``); ``message`` is for humans.

Library exceptions (botocore, espeak, torch, httpx) are translated into ``ServiceError`` in the leaf that
calls the library. This module is a leaf: it imports nothing of ours.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Kind(StrEnum):
    """What kind of failure: decides status codes, retries and exit codes everywhere."""

    INVALID = "invalid"  # the request is wrong (bad text, unknown voice, malformed JSON)
    UNPROCESSABLE = "unprocessable"  # well-formed but violates the schema / a field's rules
    UNSUPPORTED_MEDIA = "unsupported_media"  # wrong content type
    UNAUTHORIZED = "unauthorized"  # no or bad credentials
    FORBIDDEN = "forbidden"  # credentials fine, not allowed
    NOT_FOUND = "not_found"  # a named thing does not exist
    CONFLICT = "conflict"  # an id reused with different content
    TOO_LARGE = "too_large"  # over a size limit
    RATE_LIMITED = "rate_limited"  # the caller sends too much
    OVERLOADED = "overloaded"  # this instance is full: retry soon, perhaps elsewhere
    UNAVAILABLE = "unavailable"  # a dependency (engine, storage, broker) is down or loading: retry later
    INTERNAL = "internal"  # our bug

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]

    @property
    def retryable(self) -> bool:
        """The same request may succeed later: the broker redelivers, SDKs retry."""
        return self in (Kind.RATE_LIMITED, Kind.OVERLOADED, Kind.UNAVAILABLE, Kind.INTERNAL)

    @property
    def error_type(self) -> str:
        """OpenAI's ``error.type`` vocabulary."""
        return _ERROR_TYPE.get(self, "invalid_request_error")

    @property
    def exit_status(self) -> int:
        """CLI exit status (sysexits.h): 65 bad input, 69 unavailable, 75 try again, 70 internal."""
        if self is Kind.INTERNAL:
            return 70
        if self in (Kind.OVERLOADED, Kind.RATE_LIMITED):
            return 75
        if self is Kind.UNAVAILABLE:
            return 69
        return 65


_HTTP_STATUS = {
    Kind.INVALID: 400,
    Kind.UNPROCESSABLE: 422,
    Kind.UNSUPPORTED_MEDIA: 415,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.TOO_LARGE: 413,
    Kind.RATE_LIMITED: 429,
    Kind.OVERLOADED: 503,
    Kind.UNAVAILABLE: 503,
    Kind.INTERNAL: 500,
}

_ERROR_TYPE = {
    Kind.UNAUTHORIZED: "authentication_error",
    Kind.FORBIDDEN: "permission_error",
    Kind.RATE_LIMITED: "rate_limit_error",
    Kind.OVERLOADED: "overloaded_error",
    Kind.UNAVAILABLE: "overloaded_error",
    Kind.INTERNAL: "server_error",
}

_STATUS_KIND = {status: kind for kind, status in _HTTP_STATUS.items() if kind not in (Kind.OVERLOADED,)}


def kind_for_status(status: int) -> Kind:
    """The kind of an HTTP status we did not raise ourselves (a framework 404/405, say)."""
    if status in _STATUS_KIND:
        return _STATUS_KIND[status]
    return Kind.INTERNAL if status >= 500 else Kind.INVALID


class ServiceError(Exception):
    """A failure with a stable code. ``param`` names the offending input field, when there is one;
    ``retry_after`` (seconds) is sent as ``Retry-After`` with retryable kinds."""

    def __init__(self, kind: Kind, code: str, message: str, *, param: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.param, self.retry_after = kind, code, message, param, retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind.value!r}, {self.code!r}, {self.message!r})"


class DefinedError(ServiceError):
    """A ServiceError whose subclass fixes kind and code, for failures raised in many places:
    ``class UnknownVoiceError(EngineError, code="unknown_voice", kind=Kind.INVALID)``, then
    ``raise UnknownVoiceError("...")``. Edges still see only the kind and code."""

    kind_default: ClassVar[Kind] = Kind.INTERNAL
    code_default: ClassVar[str] = "internal_error"

    def __init_subclass__(cls, *, code: str | None = None, kind: Kind | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code_default = code
        if kind is not None:
            cls.kind_default = kind

    def __init__(self, message: str, *, param: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(self.kind_default, self.code_default, message, param=param, retry_after=retry_after)


def shown(value: str, limit: int = 80) -> str:
    """A caller's value quoted for a message, cut short: error messages echo identifiers, never whole inputs."""
    text = repr(value[:limit])
    return text if len(value) <= limit else f"{text}… ({len(value)} characters)"


def error_body(error: ServiceError) -> dict[str, object]:
    """OpenAI's error body: ``{"error": {"code", "message", "param", "type"}}`` (HTTP and event ingress)."""
    return {"error": {"code": error.code, "message": error.message, "param": error.param,
                      "type": error.kind.error_type}}

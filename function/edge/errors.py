"""A ServiceError as an HTTP answer: status from its kind, OpenAI-style JSON body, Retry-After.

Both HTTP routes and the CloudEvents ingress answer errors through :func:`error_response`, so a code
means the same thing on every route. Pydantic validation failures become ServiceErrors here too.

Must not import ``function.http``, ``function.events`` or ``function.cli``.
"""

from __future__ import annotations

import json

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from function.auth import AuthError
from function.errors import Kind, ServiceError, error_body

# Field -> code for schema violations, so a client can tell which rule it broke without parsing text.
_FIELD_CODES = {
    "response_format": "unsupported_format",
    "format": "unsupported_format",
    "speed": "invalid_speed",
    "stream_format": "unsupported_stream_format",
    "sample_rate": "invalid_sample_rate",
    "language": "unsupported_language",
}


def error_headers(error: ServiceError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, AuthError):  # RFC 6750 challenge: realm, error, and the scope a 403 lacked
        headers["WWW-Authenticate"] = error.challenge
    elif error.kind is Kind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = f'Bearer error="{error.code}"'
    return headers


def error_response(error: ServiceError, status: int | None = None) -> JSONResponse:
    """``status`` overrides the kind's own (the event ingress answers the broker in its retry terms)."""
    return JSONResponse(error_body(error), status_code=status or error.kind.http_status, headers=error_headers(error))


def error_bytes(error: ServiceError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for pure-ASGI middleware, which answers before any route runs."""
    body = json.dumps(error_body(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in error_headers(error).items()]
    return error.kind.http_status, headers, body


def validation_error(exc: RequestValidationError) -> ServiceError:
    """The first schema violation of a request body as a ServiceError with a field-specific code."""
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    kind = err.get("type", "")
    if kind == "json_invalid":
        return ServiceError(Kind.INVALID, "invalid_json", "The request body is not valid JSON.")
    if kind in ("model_attributes_type", "dict_type") and not loc:
        return ServiceError(Kind.INVALID, "invalid_json", "The request body must be a JSON object.")
    if kind == "missing":
        return ServiceError(Kind.UNPROCESSABLE, "missing_field", f"The field '{param}' is required.", param=param)
    if kind == "extra_forbidden":
        return ServiceError(Kind.UNPROCESSABLE, "unknown_field", f"The field '{param}' is not accepted here.",
                            param=param)
    code = _FIELD_CODES.get(loc[0] if loc else "", "invalid_value")
    return ServiceError(Kind.UNPROCESSABLE, code, f"Invalid value for '{param}': {err.get('msg', 'invalid')}.",
                        param=param)

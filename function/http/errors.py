"""Every failure becomes an OpenAI-style JSON error with a stable machine-readable code.

User mistakes are 4xx (never 500); overload and loading are 503 with Retry-After, so Knative's
activator, the Kafka broker and SDK clients all back off and retry.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from function.engines.base import EngineError, InvalidTextError, UnknownVoiceError
from function.http.schemas import error_payload
from function.service.synthesis import ServiceUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_payload(code, message, param, status), status_code=status, headers=headers)


# Pydantic error type -> (status, code). Field-specific codes are chosen by field name below.
_FIELD_CODES = {
    "response_format": "unsupported_format",
    "format": "unsupported_format",
    "speed": "invalid_speed",
    "stream_format": "unsupported_stream_format",
    "sample_rate": "invalid_sample_rate",
    "language": "unsupported_language",
}


def _validation_error(exc: RequestValidationError) -> tuple[int, str, str, str | None]:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    kind = err.get("type", "")
    if kind == "json_invalid":
        return 400, "invalid_json", "The request body is not valid JSON.", None
    if kind in ("model_attributes_type", "dict_type") and not loc:
        return 400, "invalid_json", "The request body must be a JSON object.", None
    if kind == "missing":
        return 422, "missing_field", f"The field '{param}' is required.", param
    if kind == "extra_forbidden":
        return 422, "unknown_field", f"The field '{param}' is not accepted here.", param
    code = _FIELD_CODES.get(loc[0] if loc else "", "invalid_value")
    return 422, code, f"Invalid value for '{param}': {err.get('msg', 'invalid')}.", param


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message, param = _validation_error(exc)
        return error_response(status, code, message, param)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return error_response(503, exc.code, exc.message, None, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        if isinstance(exc, (UnknownVoiceError, InvalidTextError)):
            return error_response(400, exc.code, exc.message, exc.param)
        log.error("engine error", extra={"code": exc.code, "error": exc.message})
        return error_response(500, exc.code, exc.message, exc.param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred; it has been logged.", None)

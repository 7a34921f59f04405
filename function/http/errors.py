"""Exception handlers of the HTTP app: every failure becomes an OpenAI-style JSON error with a stable code.

The kind of a ServiceError decides the status (``function.errors``); user mistakes are 4xx (never 500);
overload and loading are 503 with Retry-After, so Knative's activator, the Kafka broker and SDK clients
all back off and retry. Anything else is a bug: logged, answered 500 ``internal_error``.

Imports ``function.edge`` and leaves; never ``function.events``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from function.edge.errors import error_response, validation_error
from function.errors import Kind, ServiceError, kind_for_status

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        if exc.kind is Kind.INTERNAL:
            log.error("internal error", extra={"code": exc.code, "error": exc.message})
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ServiceError(kind_for_status(exc.status_code), code, str(exc.detail)),
                              status=exc.status_code)

    @app.exception_handler(RecursionError)
    async def _nested(_: Request, exc: RecursionError) -> JSONResponse:
        # json.loads of a body like [[[[...]]]] 100,000 levels deep: the input's fault, not ours.
        return error_response(ServiceError(Kind.INVALID, "invalid_json", "The request body is nested too deeply."))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ServiceError(Kind.INTERNAL, "internal_error",
                                           "An unexpected error occurred; it has been logged."))

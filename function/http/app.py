"""The ASGI application: the composition root of the HTTP server. Builds (or takes) the Runtime, mounts
the HTTP routes and the CloudEvents ingress, installs error handlers and middleware, and ties the
runtime's life to the server's lifespan.

This module composes both HTTP-borne interfaces, so it alone may import ``function.events``; the route
modules in ``function.http.routes`` never do (the import-graph test holds this).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from function.auth import TokenVerifier
from function.events import ingress
from function.http import errors
from function.http.middleware import AuthMiddleware, LimitsMiddleware, MetricsMiddleware
from function.http.routes import batches, native, ops, speech, ui
from function.service.engine_host import EngineLoader
from function.service.runtime import Runtime
from function.settings import Settings

JSON_PATHS = frozenset({"/v1/audio/speech", "/v1/synthesize", "/v1/batches"})
UNMETERED_PATHS = frozenset({"/metrics", "/health/liveness", "/health/readiness"})


def create_app(
    settings: Settings,
    loader: EngineLoader | None = None,
    *,
    runtime: Runtime | None = None,
    manage_lifecycle: bool = True,
) -> FastAPI:
    """An app whose engine starts loading when the server starts (liveness answers meanwhile).

    ``manage_lifecycle=False`` leaves start/stop to a host runtime (func-python calls our Function's
    ``start``/``stop`` instead of the ASGI lifespan).
    """
    runtime = runtime or Runtime(settings, loader)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            runtime.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await runtime.aclose()

    app = FastAPI(
        title="emotivoice-serverless",
        version="0.1.0",
        description="Expressive Chinese/English text-to-speech: OpenAI-compatible and native APIs.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(speech.router)
    app.include_router(native.router)
    app.include_router(batches.router)
    app.include_router(ops.router)
    app.include_router(ingress.router)
    if settings.ui:
        app.include_router(ui.router)
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, json_paths=JSON_PATHS)
    if settings.auth == "jwt":
        app.add_middleware(AuthMiddleware, verifier=TokenVerifier(settings))
    app.add_middleware(MetricsMiddleware, metrics=runtime.metrics, skip=UNMETERED_PATHS)
    return app

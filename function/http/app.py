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
from function.http.middleware import (
    AuthMiddleware,
    LimitsMiddleware,
    MetricsMiddleware,
    RateLimitMiddleware,
    StallMiddleware,
)
from function.http.routes import batches, native, ops, speech, ui, voices
from function.ratelimit import TokenBucketLimiter
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
        # With auth on, /openapi.json needs an admin token (function.http.access) and the browser pages are
        # not served: Swagger UI and ReDoc fetch the schema without the page's bearer token, so they could
        # only show an error. Fetch the schema with a token and open it in any OpenAPI viewer instead.
        docs_url=None if settings.auth == "jwt" else "/docs",
        redoc_url=None if settings.auth == "jwt" else "/redoc",
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(speech.router)
    app.include_router(voices.router)
    app.include_router(native.router)
    app.include_router(batches.router)
    app.include_router(ops.router)
    app.include_router(ingress.router)
    if settings.ui:
        app.include_router(ui.router)
    # Added last = runs first: metrics outermost, then auth and limits, stall detection next to the app.
    app.add_middleware(StallMiddleware, timeout=settings.stall_timeout_seconds, metrics=runtime.metrics)
    # Reference clips may be larger than other bodies (EMOTIVOICE_VOICE_MAX_CLIP_BYTES).
    body_limits = {voices.VOICES_PATH: voices.upload_body_limit(settings.voice_max_clip_bytes)}
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, json_paths=JSON_PATHS,
                       body_limits=body_limits,
                       max_header_bytes=settings.max_header_bytes, body_timeout=settings.body_timeout_seconds)
    # Added later = runs earlier: auth, then the per-subject rate limit (it needs the token's subject).
    if settings.rate_limit_per_second > 0:
        app.add_middleware(RateLimitMiddleware, limiter=TokenBucketLimiter(settings.rate_limit_per_second,
                                                                           settings.rate_limit_burst))
    if settings.auth == "jwt" or settings.event_auth == "oidc":
        app.add_middleware(AuthMiddleware,
                           api=TokenVerifier.for_api(settings) if settings.auth == "jwt" else None,
                           events=TokenVerifier.for_events(settings) if settings.event_auth == "oidc" else None,
                           require_scopes=settings.jwt_require_scopes)
    app.add_middleware(MetricsMiddleware, metrics=runtime.metrics, skip=UNMETERED_PATHS)
    return app

"""The ASGI application: routers, error handlers, middleware and the engine's life, per app instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from function.engines.base import Engine
from function.engines.registry import load_engine
from function.http import errors
from function.http.context import AppContext
from function.http.middleware import LimitsMiddleware, MetricsMiddleware
from function.http.routes import native, ops, speech
from function.metrics import Metrics
from function.service.engine_host import EngineHost, EngineLoader
from function.service.synthesis import SynthesisService
from function.settings import Settings

JSON_PATHS = frozenset({"/v1/audio/speech", "/v1/synthesize", "/v1/batches"})
UNMETERED_PATHS = frozenset({"/metrics", "/health/liveness", "/health/readiness"})


def build_context(settings: Settings, loader: EngineLoader | None = None) -> AppContext:
    metrics = Metrics()
    host = EngineHost(loader or (lambda: load_engine(settings)))

    def on_ready(engine: Engine, seconds: float) -> None:
        metrics.engine_load_seconds.labels(engine.name).set(seconds)
        metrics.engine_info.labels(engine.name, str(getattr(engine, "version", "unknown"))).set(1)
        metrics.ready.set(1)

    host.on_ready(on_ready)
    service = SynthesisService(
        host,
        metrics,
        workers=settings.workers,
        queue_size=settings.queue_size,
        queue_timeout_seconds=settings.queue_timeout_seconds,
        retry_after_seconds=settings.retry_after_seconds,
    )
    return AppContext(settings=settings, metrics=metrics, host=host, service=service)


def create_app(
    settings: Settings,
    loader: EngineLoader | None = None,
    *,
    context: AppContext | None = None,
    manage_lifecycle: bool = True,
) -> FastAPI:
    """An app whose engine starts loading when the server starts (liveness answers meanwhile).

    ``manage_lifecycle=False`` leaves start/stop to a host runtime (func-python calls our Function's
    ``start``/``stop`` instead of the ASGI lifespan).
    """
    context = context or build_context(settings, loader)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            context.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                context.stop()

    app = FastAPI(
        title="emotivoice-serverless",
        version="0.1.0",
        description="Expressive Chinese/English text-to-speech: OpenAI-compatible and native APIs.",
        lifespan=lifespan,
    )
    app.state.context = context
    errors.install(app)
    app.include_router(speech.router)
    app.include_router(native.router)
    app.include_router(ops.router)
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, json_paths=JSON_PATHS)
    app.add_middleware(MetricsMiddleware, metrics=context.metrics, skip=UNMETERED_PATHS)
    return app

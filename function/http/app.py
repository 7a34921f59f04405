"""The ASGI application: routers, error handlers, middleware and the engine's life, per app instance."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from function.auth import AuthMiddleware, TokenVerifier
from function.engines.base import Engine
from function.engines.registry import load_engine
from function.events import ingress
from function.http import errors
from function.http.context import AppContext
from function.http.middleware import LimitsMiddleware, MetricsMiddleware
from function.http.routes import batches, native, ops, speech
from function.metrics import Metrics
from function.service.batches import BatchService
from function.service.engine_host import EngineHost, EngineLoader
from function.service.render import Renderer
from function.service.synthesis import SynthesisService
from function.settings import Settings
from function.sink import Publisher
from function.storage import Storage, StorageUnavailable, open_storage

JSON_PATHS = frozenset({"/v1/audio/speech", "/v1/synthesize", "/v1/batches"})
UNMETERED_PATHS = frozenset({"/metrics", "/health/liveness", "/health/readiness"})


def _startup_loader(settings: Settings, storage: Storage, engine_loader: EngineLoader) -> EngineLoader:
    """Readiness needs both: storage reachable with the configured bucket and credentials (a deployment
    mistake shows at start-up, not at the first event), then the engine loaded and warmed up."""

    def load() -> tuple[Engine, float]:
        deadline = time.monotonic() + settings.queue_timeout_seconds
        while True:
            try:
                storage.check()
                break
            except StorageUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        return engine_loader()

    return load


def build_context(settings: Settings, loader: EngineLoader | None = None) -> AppContext:
    metrics = Metrics()
    storage = open_storage(settings)
    host = EngineHost(_startup_loader(settings, storage, loader or (lambda: load_engine(settings))))

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
    renderer = Renderer(service, storage, settings.presign_expiry_seconds)
    batches = BatchService(renderer, metrics, max_recipients=settings.batch_max_recipients,
                           chunk_size=settings.batch_chunk_size, workers=settings.workers)
    return AppContext(settings=settings, metrics=metrics, host=host, service=service, storage=storage,
                      renderer=renderer, batches=batches, publisher=Publisher(settings.sink))


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
    app.include_router(batches.router)
    app.include_router(ops.router)
    app.include_router(ingress.router)
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, json_paths=JSON_PATHS)
    if settings.auth == "jwt":
        app.add_middleware(AuthMiddleware, verifier=TokenVerifier(settings))
    app.add_middleware(MetricsMiddleware, metrics=context.metrics, skip=UNMETERED_PATHS)
    return app

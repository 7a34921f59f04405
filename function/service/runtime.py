"""The function's whole life in one object, in func-python's shape: ``start``, ``stop``, ``alive``, ``ready``.

Everything a process opens (storage client, engine and its loading thread, worker threads, the broker
publisher) is built here from one ``Settings`` and closed by ``stop``, so the HTTP server's lifespan, the
func-python runtime and tests all get the same life. Readiness is decided here and only here: the
readiness route and func-python's ``ready()`` both ask :meth:`Runtime.readiness`.

Owns: composition of the service objects and their lifecycle. Must not import interfaces
(``function.http``, ``function.events``, ``function.cli``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from function.engines.base import Engine
from function.engines.registry import load_engine
from function.metrics import Metrics
from function.service.batches import BatchService
from function.service.engine_host import EngineHost, EngineLoader
from function.service.render import Renderer
from function.service.synthesis import SynthesisService
from function.settings import Settings
from function.sink import Publisher
from function.storage import Storage, StorageUnavailable, open_storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    status: Literal["ready", "loading", "failed"]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """One line for func-python's ``ready()``."""
        return str(self.details.get("error", self.status))


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


class Runtime:
    """Built from settings; ``loader`` replaces the configured engine (tests pass slow or failing ones)."""

    def __init__(self, settings: Settings, loader: EngineLoader | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.storage = open_storage(settings)
        self.host = EngineHost(_startup_loader(settings, self.storage, loader or (lambda: load_engine(settings))))
        self.host.on_ready(self._engine_ready)
        self.synthesis = SynthesisService(
            self.host,
            self.metrics,
            workers=settings.workers,
            queue_size=settings.queue_size,
            queue_timeout_seconds=settings.queue_timeout_seconds,
            retry_after_seconds=settings.retry_after_seconds,
            max_input_chars=settings.max_input_chars,
        )
        self.renderer = Renderer(self.synthesis, self.storage, settings.presign_expiry_seconds)
        self.publisher = Publisher(settings.sink)
        self.batches = BatchService(self.renderer, self.metrics, self.publisher, event_source=settings.event_source,
                                    max_recipients=settings.batch_max_recipients,
                                    chunk_size=settings.batch_chunk_size, workers=settings.workers)
        self._closing: set[asyncio.Task[None]] = set()

    def _engine_ready(self, engine: Engine, seconds: float) -> None:
        self.metrics.engine_load_seconds.labels(engine.name).set(seconds)
        self.metrics.engine_info.labels(engine.name, str(getattr(engine, "version", "unknown"))).set(1)
        self.metrics.ready.set(1)

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin loading the engine in the background; returns at once (liveness answers meanwhile)."""
        self.host.start()

    def alive(self) -> tuple[bool, str]:
        return True, "alive"

    def readiness(self) -> Readiness:
        """Ready only after storage answered and the engine loaded and synthesised a warm-up sentence."""
        if self.host.ready:
            return Readiness(True, "ready", {"engine": self.host.engine.name,
                                             "load_seconds": self.host.load_seconds})
        if self.host.error:
            return Readiness(False, "failed", {"error": self.host.error})
        return Readiness(False, "loading")

    async def aclose(self) -> None:
        """Stop from inside the event loop (the ASGI lifespan), waiting for the publisher to close."""
        self._close_threads()
        await self._close_clients()

    def stop(self) -> None:
        """Stop from synchronous code. func-python calls this from inside its running loop: the async
        clients are then closed by a task on that loop."""
        self._close_threads()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._close_clients())
            return
        task = loop.create_task(self._close_clients())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _close_threads(self) -> None:
        self.batches.cancel_background()
        self.synthesis.shutdown()
        self.host.stop()

    async def _close_clients(self) -> None:
        await self.publisher.close()
        self.storage.close()

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
from function.service.batches import BatchLimits, BatchService
from function.service.custom_voices import CustomVoices
from function.service.engine_host import EngineHost, EngineLoader
from function.service.render import Renderer
from function.service.synthesis import SynthesisLimits, SynthesisService
from function.settings import Settings
from function.sink import Publisher
from function.storage import Storage, StorageUnavailable, open_storage
from function.storage.breaker import BreakerStorage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    status: Literal["ready", "loading", "failed", "draining"]
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
        if isinstance(self.storage, BreakerStorage):
            self.storage.on_change = lambda is_open: self.metrics.storage_breaker_open.set(int(is_open))
        self.host = EngineHost(_startup_loader(settings, self.storage, loader or (lambda: load_engine(settings))))
        self.host.on_ready(self._engine_ready)
        self.synthesis = SynthesisService(self.host, self.metrics, SynthesisLimits(
            workers=settings.workers, queue_size=settings.queue_size,
            queue_timeout_seconds=settings.queue_timeout_seconds, retry_after_seconds=settings.retry_after_seconds,
            max_input_chars=settings.max_input_chars, interactive_reserved=settings.interactive_reserved_slots,
            request_timeout_seconds=settings.request_timeout_seconds,
            stall_timeout_seconds=settings.stall_timeout_seconds, max_buffered_chunks=settings.max_buffered_chunks))
        self.custom_voices = CustomVoices(settings, self.storage, self.synthesis.ready_engine)
        self.synthesis.voice_resolver = self.custom_voices
        self.renderer = Renderer(self.synthesis, self.storage, settings.presign_expiry_seconds)
        self.publisher = Publisher(settings.sink, token_file=settings.sink_token_file)
        self.batches = BatchService(self.renderer, self.metrics, self.publisher, event_source=settings.event_source,
                                    limits=BatchLimits(
            max_recipients=settings.batch_max_recipients, chunk_size=settings.batch_chunk_size,
            workers=settings.workers, max_total_chars=settings.batch_max_total_chars,
            max_audio_seconds=settings.batch_max_audio_seconds, max_running=settings.batch_max_running,
            max_per_subject=settings.batch_max_per_subject, retry_after_seconds=settings.retry_after_seconds))
        self._closing: set[asyncio.Task[None]] = set()

    def _engine_ready(self, engine: Engine, seconds: float) -> None:
        self.metrics.engine_load_seconds.labels(engine.name).set(seconds)
        self.metrics.engine_info.labels(engine.name, str(getattr(engine, "version", "unknown")),
                                        str(getattr(engine, "runtime", "native")),
                                        str(getattr(engine, "precision", "native"))).set(1)
        self.metrics.ready.set(1)

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin loading the engine in the background; returns at once (liveness answers meanwhile)."""
        self.host.start()

    def alive(self) -> tuple[bool, str]:
        return True, "alive"

    def readiness(self) -> Readiness:
        """Ready only after storage answered and the engine loaded and synthesised a warm-up sentence;
        not ready from the moment a drain begins.

        An open storage breaker shows in the details but does not flip readiness: interactive synthesis
        needs no storage, and failing every pod's readiness at once would take the whole service down
        with its object store. Calls that need storage answer 503 + Retry-After in milliseconds instead.
        """
        details: dict[str, Any] = {}
        if isinstance(self.storage, BreakerStorage):
            details["storage"] = self.storage.state()
        if self.synthesis.draining:
            return Readiness(False, "draining", {**details, "error": "draining: finishing admitted work before exit"})
        if self.host.ready:
            return Readiness(True, "ready", {"engine": self.host.engine.name,
                                             "runtime": str(getattr(self.host.engine, "runtime", "native")),
                                             "precision": str(getattr(self.host.engine, "precision", "native")),
                                             "load_seconds": self.host.load_seconds, **details})
        if self.host.error:
            return Readiness(False, "failed", {"error": self.host.error})
        return Readiness(False, "loading")

    async def drain(self, grace: float | None = None) -> bool:
        """SIGTERM: fail readiness at once, refuse new work with 503 ``shutting_down``, and wait up to
        ``grace`` seconds (default: the request timeout) for admitted work and running batches to finish.
        True when everything finished in time; batches still running are then cancelled, their progress
        saved (a redelivery or re-POST resumes them)."""
        grace = self.settings.request_timeout_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        self.synthesis.begin_drain()
        self.batches.begin_drain()
        log.info("draining", extra={"in_flight": self.synthesis.in_flight, "grace_seconds": grace})
        done = await self.batches.wait_idle(grace) and await self.synthesis.wait_idle(deadline - time.monotonic())
        log.info("drained" if done else "drain grace over; stopping with work in flight",
                 extra={"in_flight": self.synthesis.in_flight})
        return done

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

"""Holds the engine through its life: loading in the background, ready, or failed.

Loading EmotiVoice takes seconds; the process must answer liveness meanwhile (Knative would otherwise
kill it) and only turn ready after a warm-up synthesis succeeded. A load failure keeps the process
alive but never ready, with the reason on the readiness endpoint, instead of a crash loop.

Must not import interfaces or other service modules.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from function.engines.base import Engine

log = logging.getLogger(__name__)

EngineLoader = Callable[[], tuple[Engine, float]]


class EngineHost:
    def __init__(self, loader: EngineLoader) -> None:
        self._loader = loader
        self._engine: Engine | None = None
        self._error: str | None = None
        self._loaded = threading.Event()
        self.load_seconds: float | None = None
        self._thread: threading.Thread | None = None
        self._on_ready: list[Callable[[Engine, float], None]] = []

    def on_ready(self, callback: Callable[[Engine, float], None]) -> None:
        self._on_ready.append(callback)

    def start(self) -> None:
        """Begin loading in a background thread; returns at once. A second call does nothing (``serve``
        starts loading before the HTTP stack is imported; the ASGI lifespan then calls it again)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self.load, name="engine-load", daemon=True)
        self._thread.start()

    def load(self) -> None:
        """Load in the calling thread (the CLI has nothing else to do meanwhile); the outcome shows on
        ``ready`` / ``error``, never as an exception."""
        try:
            engine, seconds = self._loader()
        except Exception as exc:  # noqa: BLE001 - any load failure must become "not ready", not a crash
            self._error = f"{type(exc).__name__}: {exc}"
            log.error("engine failed to load", extra={"error": self._error}, exc_info=not hasattr(exc, "code"))
        else:
            self._engine, self.load_seconds = engine, seconds
            for callback in self._on_ready:
                callback(engine, seconds)
        finally:
            self._loaded.set()

    @property
    def ready(self) -> bool:
        return self._engine is not None

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("engine not loaded")
        return self._engine

    async def wait_loaded(self, timeout: float) -> bool:
        """Wait (without blocking the event loop) until loading finished; True when ready."""
        if not self._loaded.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait, timeout)
        return self.ready

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.close()

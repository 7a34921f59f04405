"""What route handlers need, built once per app (no module globals): reached through a dependency."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from function.engines.base import Engine
from function.metrics import Metrics
from function.service.engine_host import EngineHost
from function.service.synthesis import NotReady, SynthesisService
from function.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    metrics: Metrics
    host: EngineHost
    service: SynthesisService

    def start(self) -> None:
        self.host.start()

    def stop(self) -> None:
        self.service.shutdown()
        self.host.stop()

    async def engine(self) -> Engine:
        """The loaded engine, waiting for it while it loads (bounded by the queue timeout)."""
        if not await self.host.wait_loaded(self.settings.queue_timeout_seconds):
            raise NotReady(
                "The engine failed to load; this instance cannot synthesise." if self.host.error
                else "The engine is still loading; retry shortly.",
                self.settings.retry_after_seconds,
            )
        return self.host.engine


def get_context(request: Request) -> AppContext:
    return request.app.state.context  # type: ignore[no-any-return]

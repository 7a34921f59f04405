"""What route handlers need, built once per app (no module globals): reached through a dependency."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from function.engines.base import Engine
from function.metrics import Metrics
from function.service.batches import BatchService
from function.service.engine_host import EngineHost
from function.service.render import Renderer
from function.service.synthesis import SynthesisService
from function.settings import Settings
from function.sink import Publisher
from function.storage import Storage


@dataclass
class AppContext:
    settings: Settings
    metrics: Metrics
    host: EngineHost
    service: SynthesisService
    storage: Storage
    renderer: Renderer
    batches: BatchService
    publisher: Publisher

    def start(self) -> None:
        self.host.start()

    def stop(self) -> None:
        self.batches.cancel_background()
        self.service.shutdown()
        self.host.stop()

    async def engine(self) -> Engine:
        """The loaded engine, waiting for it while it loads (bounded by the queue timeout)."""
        return await self.service.ready_engine()


def get_context(request: Request) -> AppContext:
    return request.app.state.context  # type: ignore[no-any-return]

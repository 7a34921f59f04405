"""Knative Functions entry point (func-python's ASGI convention): ``new()`` returns the function object
whose ``handle`` serves requests and whose ``start``/``stop``/``alive``/``ready`` are its whole life.

``func deploy`` runs this through func-python; ``emotivoice-fn serve`` runs the same app with uvicorn.
Both delegate the life itself to :class:`function.service.runtime.Runtime`.

An entry point: may import any layer, never ``snapshot``, ``planner`` or test packages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from function.http.app import create_app
from function.logs import configure
from function.service.runtime import Runtime
from function.settings import Settings

log = logging.getLogger(__name__)


class Function:
    def __init__(self) -> None:
        self._app: Callable[..., Awaitable[None]] | None = None
        self._runtime: Runtime | None = None

    def start(self, cfg: dict[str, str] | None = None) -> None:
        """Called once by the runtime before traffic. ``cfg`` mirrors the environment; we read the
        environment through Settings so both runtimes configure the same way."""
        settings = Settings()
        configure(settings.log_level, settings.log_format)
        self._runtime = Runtime(settings)
        self._app = create_app(settings, runtime=self._runtime, manage_lifecycle=False)
        self._runtime.start()

    async def handle(self, scope: MutableMapping[str, Any], receive: Callable[..., Awaitable[Any]],
                     send: Callable[..., Awaitable[None]]) -> None:
        if self._app is None:
            raise RuntimeError("Function.start() was not called")
        await self._app(scope, receive, send)

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.stop()

    def alive(self) -> tuple[bool, str]:
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        if self._runtime is None:
            return False, "not started"
        state = self._runtime.readiness()
        return state.ready, state.reason


def new() -> Function:
    return Function()

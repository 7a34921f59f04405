"""Knative Functions entry point (func-python's ASGI convention): ``new()`` returns the function object
whose ``handle`` serves requests and whose ``start``/``stop``/``alive``/``ready`` are its whole life.

``func deploy`` runs this through func-python; ``emotivoice-fn serve`` runs the same app with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from function.http.app import build_context, create_app
from function.logs import configure
from function.settings import Settings

log = logging.getLogger(__name__)


class Function:
    def __init__(self) -> None:
        self._app: Callable[..., Awaitable[None]] | None = None
        self._context = None

    def start(self, cfg: dict[str, str] | None = None) -> None:
        """Called once by the runtime before traffic. ``cfg`` mirrors the environment; we read the
        environment through Settings so both runtimes configure the same way."""
        settings = Settings()
        configure(settings.log_level, settings.log_format)
        self._context = build_context(settings)
        self._app = create_app(settings, context=self._context, manage_lifecycle=False)
        self._context.start()

    async def handle(self, scope: MutableMapping[str, Any], receive: Callable[..., Awaitable[Any]],
                     send: Callable[..., Awaitable[None]]) -> None:
        if self._app is None:
            raise RuntimeError("Function.start() was not called")
        await self._app(scope, receive, send)

    def stop(self) -> None:
        if self._context is not None:
            self._context.stop()

    def alive(self) -> tuple[bool, str]:
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        if self._context is None:
            return False, "not started"
        if self._context.host.ready:
            return True, "ready"
        return False, self._context.host.error or "loading"


def new() -> Function:
    return Function()

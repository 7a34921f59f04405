"""Running the app under uvicorn with a drain on SIGTERM, the way Knative stops a pod.

Kubernetes sends SIGTERM and waits ``terminationGracePeriodSeconds`` (Knative sets it to the revision's
``timeoutSeconds``) before SIGKILL. Uvicorn's own handling closes the listener at once and cuts open
streams after its graceful timeout. Here the first SIGTERM starts a drain instead: readiness turns 503
(``draining``) so the queue-proxy and activator stop routing to the pod, new synthesis is answered 503
``shutting_down`` with Retry-After while the listener is still open, and admitted work, streams included,
runs to completion for up to ``EMOTIVOICE_REQUEST_TIMEOUT_SECONDS``. Then the server exits normally. A
second signal exits at once.

Owns the process's HTTP serving loop. Imports the service runtime; never ``function.events``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn

from function.service.runtime import Runtime

log = logging.getLogger(__name__)

# After the drain, the few seconds uvicorn waits for connections still open (responses being flushed).
FLUSH_SECONDS = 5


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._drain is not None or self._loop is None:
            super().handle_exit(sig, frame)  # a second signal, or Ctrl-C: exit now
            return
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._drain_then_exit(), name="drain")

    async def _drain_then_exit(self) -> None:
        try:
            await self.runtime.drain()
        finally:
            self.should_exit = True


def serve(runtime: Runtime, app: object, host: str, port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_config=None,  # type: ignore[arg-type]
                            timeout_graceful_shutdown=FLUSH_SECONDS)
    DrainingServer(config, runtime).run()

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
import json
import logging
import signal
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class JsonErrorProtocol(HttpToolsProtocol):
    """Uvicorn's HTTP/1.1 protocol, answering requests its parser refuses (a request line or header block
    over the parser's ~80 KiB limit, bytes that are not HTTP) with our JSON error body instead of plain
    text, so even these get a documented answer."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": {"code": "invalid_http_request", "message": f"{msg} (refused by the HTTP parser: "
                                     "request line or headers too large, or not HTTP).", "param": None,
                                     "type": "invalid_request_error"}}).encode()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()


def server_config(app: object, host: str, port: int, **options: object) -> uvicorn.Config:
    """The uvicorn configuration every server of this function uses (the CLI's and the tests')."""
    return uvicorn.Config(app, host=host, port=port, http=JsonErrorProtocol,  # type: ignore[arg-type]
                          timeout_graceful_shutdown=FLUSH_SECONDS, **options)  # type: ignore[arg-type]


def serve(runtime: Runtime, app: object, host: str, port: int) -> None:
    DrainingServer(server_config(app, host, port, log_config=None), runtime).run()

"""The bounded synthesis queue every interface goes through.

One process accepts at most ``workers + queue_size`` jobs (Knative's containerConcurrency matches this
bound). Admission is decided synchronously, before any response byte is sent, so an overloaded pod
answers 503 + Retry-After at once and the caller (or Knative's activator / the Kafka broker) retries
elsewhere instead of waiting on unbounded memory. Engines run on worker threads, never on the event loop;
audio comes back sentence by sentence through an asyncio queue so responses can stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from function.engines.base import AudioChunk, Engine, SynthesisRequest
from function.metrics import Metrics
from function.service.engine_host import EngineHost

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """Retryable: the caller should come back after ``retry_after`` seconds."""

    code = "unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Overloaded(ServiceUnavailable):
    code = "overloaded"


class QueueTimeout(ServiceUnavailable):
    code = "queue_timeout"


class NotReady(ServiceUnavailable):
    code = "not_ready"


_DONE = object()


@dataclass
class JobStats:
    """What one finished job cost; filled as the job runs."""

    queue_seconds: float = 0.0
    compute_seconds: float = 0.0
    audio_seconds: float = 0.0
    first_audio_seconds: float | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Ticket:
    """An admitted job's slot. ``stream`` runs the job; the slot is freed when the stream ends or
    ``release`` is called (idempotent), whichever comes first."""

    def __init__(self, service: SynthesisService) -> None:
        self._service = service
        self._released = False
        self.admitted_at = time.monotonic()
        self.stats = JobStats()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._service._release()

    async def stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        try:
            async for chunk in self._service._run(self, request):
                yield chunk
        finally:
            self.release()


class SynthesisService:
    def __init__(
        self,
        host: EngineHost,
        metrics: Metrics,
        *,
        workers: int,
        queue_size: int,
        queue_timeout_seconds: float,
        retry_after_seconds: int,
    ) -> None:
        self._host = host
        self._metrics = metrics
        self.workers = workers
        self.capacity = workers + queue_size
        self._queue_timeout = queue_timeout_seconds
        self._retry_after = retry_after_seconds
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        metrics.capacity.set(self.capacity)

    @property
    def engine(self) -> Engine:
        return self._host.engine

    @property
    def in_flight(self) -> int:
        return self._admitted

    def admit(self) -> Ticket:
        """Take a slot or raise Overloaded. Never blocks."""
        with self._lock:
            if self._admitted >= self.capacity:
                self._metrics.jobs.labels("rejected").inc()
                raise Overloaded(
                    f"This instance is at capacity ({self.capacity} requests in progress or queued); retry shortly.",
                    self._retry_after,
                )
            self._admitted += 1
            self._metrics.in_flight.set(self._admitted)
            self._metrics.queue_depth.set(self._admitted - self._running)
        return Ticket(self)

    async def admit_waiting(self, timeout: float) -> Ticket:
        """Take a slot, waiting up to ``timeout`` for one: for batch work that should queue, not fail."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                return self.admit()
            except Overloaded:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
            self._metrics.in_flight.set(self._admitted)
            self._metrics.queue_depth.set(self._admitted - self._running)

    def _set_running(self, delta: int) -> None:
        with self._lock:
            self._running += delta
            self._metrics.queue_depth.set(self._admitted - self._running)

    async def ready_engine(self, timeout: float | None = None) -> Engine:
        """The engine, waiting while it loads (requests arriving during start-up are served, not
        dropped); NotReady when it failed or is still loading after ``timeout`` (default: queue timeout)."""
        if not await self._host.wait_loaded(self._queue_timeout if timeout is None else max(0.0, timeout)):
            raise NotReady(
                "The engine failed to load; this instance cannot synthesise." if self._host.error
                else "The engine is still loading; retry shortly.",
                self._retry_after,
            )
        return self._host.engine

    async def _run(self, ticket: Ticket, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        engine = await self.ready_engine(self._queue_timeout - (time.monotonic() - ticket.admitted_at))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        started = asyncio.Event()  # set from the worker thread through the loop
        cancelled = threading.Event()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            began = time.monotonic()
            loop.call_soon_threadsafe(started.set)
            if cancelled.is_set():
                put(_DONE)
                return
            self._set_running(+1)
            ticket.stats.queue_seconds = began - ticket.admitted_at
            self._metrics.queue_wait.observe(ticket.stats.queue_seconds)
            try:
                for chunk in engine.synthesize(request):
                    if ticket.stats.first_audio_seconds is None:
                        ticket.stats.first_audio_seconds = time.monotonic() - ticket.admitted_at
                    ticket.stats.audio_seconds += chunk.duration_seconds
                    for stage, seconds in chunk.timings.items():
                        ticket.stats.timings[stage] = ticket.stats.timings.get(stage, 0.0) + seconds
                    put(chunk)
                    if cancelled.is_set():
                        break
                put(_DONE)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
                put(exc)
            finally:
                ticket.stats.compute_seconds = time.monotonic() - began
                self._set_running(-1)

        loop.run_in_executor(self._executor, work)
        outcome = "ok"
        try:
            wait = max(0.0, self._queue_timeout - (time.monotonic() - ticket.admitted_at))
            try:
                await asyncio.wait_for(started.wait(), timeout=wait)
            except TimeoutError:
                cancelled.set()  # the worker, when it gets to this job, drops it at once
                outcome = "timeout"
                raise QueueTimeout(
                    f"No worker became free within {self._queue_timeout:g} s; retry shortly.",
                    self._retry_after,
                ) from None
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    outcome = "error"
                    raise item
                yield item  # type: ignore[misc]
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        finally:
            cancelled.set()
            self._record(engine.name, ticket, outcome)

    def _record(self, engine_name: str, ticket: Ticket, outcome: str) -> None:
        m, s = self._metrics, ticket.stats
        m.jobs.labels(outcome).inc()
        if s.audio_seconds > 0:
            m.audio_seconds.labels(engine_name).inc(s.audio_seconds)
            m.synthesis_seconds.labels(engine_name).inc(s.compute_seconds)
            m.real_time_factor.labels(engine_name).observe(s.compute_seconds / s.audio_seconds)
        if s.first_audio_seconds is not None:
            m.time_to_first_audio.labels(engine_name).observe(s.first_audio_seconds)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


"""The one synthesis pipeline every interface goes through: validate, admit, resolve, run, stream.

:meth:`SynthesisService.open` is the single entry point. HTTP streaming, the native whole-file API,
storage renders for events and batches, and the CLI all call it and consume the :class:`Job` it returns.

One process accepts at most ``workers + queue_size`` jobs (Knative's containerConcurrency matches this
bound). Admission is decided synchronously, before any response byte is sent, so an overloaded pod
answers 503 + Retry-After at once and the caller (or Knative's activator / the Kafka broker) retries
elsewhere instead of waiting on unbounded memory. Engines run on worker threads, never on the event loop;
audio comes back sentence by sentence through an asyncio queue so responses can stream.

Owns: admission, text validation, the worker threads, job metrics. Must not import interfaces
(``function.http``, ``function.events``, ``function.cli``) or other service modules that consume jobs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from function.audio.encoding import output_rate
from function.engines.base import AudioChunk, Engine, InvalidTextError, SynthesisRequest
from function.engines.text import has_speakable
from function.errors import Kind, ServiceError
from function.metrics import Metrics
from function.service.engine_host import EngineHost
from function.service.job import Job, JobStats

log = logging.getLogger(__name__)


def overloaded(capacity: int, retry_after: int) -> ServiceError:
    return ServiceError(Kind.OVERLOADED, "overloaded",
                        f"This instance is at capacity ({capacity} requests in progress or queued); retry shortly.",
                        retry_after=retry_after)


def queue_timeout(seconds: float, retry_after: int) -> ServiceError:
    return ServiceError(Kind.OVERLOADED, "queue_timeout", f"No worker became free within {seconds:g} s; retry shortly.",
                        retry_after=retry_after)


def not_ready(failed: bool, retry_after: int) -> ServiceError:
    return ServiceError(Kind.UNAVAILABLE, "not_ready",
                        "The engine failed to load; this instance cannot synthesise." if failed
                        else "The engine is still loading; retry shortly.", retry_after=retry_after)


def check_text(text: str, limit: int, param: str) -> None:
    """The checks every text gets before it takes a slot: cheap, and the same for every interface."""
    if not text.strip():
        raise ServiceError(Kind.INVALID, "empty_input", f"'{param}' must not be empty.", param=param)
    if len(text) > limit:
        raise ServiceError(Kind.TOO_LARGE, "input_too_long",
                           f"'{param}' has {len(text)} characters; the limit is {limit}.", param=param)
    if not has_speakable(text):
        raise ServiceError(Kind.INVALID, "invalid_text",
                           f"'{param}' has no letters, digits or Chinese characters to speak.", param=param)


_DONE = object()


class Ticket:
    """An admitted job's slot, freed by ``release`` (idempotent)."""

    def __init__(self, service: SynthesisService) -> None:
        self._service = service
        self._released = False
        self.admitted_at = time.monotonic()
        self.stats = JobStats()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._service._release()


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
        max_input_chars: int,
    ) -> None:
        self._host = host
        self._metrics = metrics
        self.workers = workers
        self.capacity = workers + queue_size
        self.max_input_chars = max_input_chars
        self._queue_timeout = queue_timeout_seconds
        self._retry_after = retry_after_seconds
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        metrics.capacity.set(self.capacity)

    @property
    def in_flight(self) -> int:
        return self._admitted

    # --- the pipeline -----------------------------------------------------------------------------
    async def open(self, request: SynthesisRequest, *, text_param: str = "text",
                   wait_for_slot: float | None = None) -> Job:
        """Validate, admit, resolve voice and style, start the engine and wait for the first audio.

        ``wait_for_slot=None`` takes a slot or fails at once (interactive calls: the caller retries
        elsewhere); a number of seconds queues for one that long (batch items wait behind interactive
        traffic instead of failing). ``text_param`` names the text field in error messages.
        Every failure before the first audio raises ServiceError; the slot is freed on any failure.
        """
        check_text(request.text, self.max_input_chars, text_param)
        ticket = self.admit() if wait_for_slot is None else await self.admit_waiting(wait_for_slot)
        stream: AsyncIterator[AudioChunk] | None = None
        try:
            engine = await self.ready_engine(self._queue_timeout - (time.monotonic() - ticket.admitted_at))
            voice = engine.resolve_voice(request.voice)
            style = engine.resolve_style(request.prompt)
            stream = self._run(ticket, engine, request)
            try:
                first = await stream.__anext__()
            except StopAsyncIteration:
                raise InvalidTextError("The input produced no audio.", param=text_param) from None
        except BaseException:
            if stream is not None:
                await stream.aclose()  # type: ignore[attr-defined]
            ticket.release()
            raise
        rate = output_rate(request.format, request.sample_rate or engine.sample_rate)
        return Job(engine, voice, style, request, ticket.stats, rate, first, stream)

    async def ready_engine(self, timeout: float | None = None) -> Engine:
        """The engine, waiting while it loads (requests arriving during start-up are served, not
        dropped); not_ready when it failed or is still loading after ``timeout`` (default: queue timeout)."""
        if not await self._host.wait_loaded(self._queue_timeout if timeout is None else max(0.0, timeout)):
            raise not_ready(self._host.error is not None, self._retry_after)
        return self._host.engine

    # --- admission --------------------------------------------------------------------------------
    def admit(self) -> Ticket:
        """Take a slot or raise ``overloaded``. Never blocks."""
        with self._lock:
            if self._admitted >= self.capacity:
                self._metrics.jobs.labels("rejected").inc()
                raise overloaded(self.capacity, self._retry_after)
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
            except ServiceError:
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

    # --- running ----------------------------------------------------------------------------------
    async def _run(self, ticket: Ticket, engine: Engine, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        """The engine on a worker thread, its chunks handed over through an asyncio queue. The slot is
        released when this generator ends, however it ends."""
        try:
            async for chunk in self._work(ticket, engine, request):
                yield chunk
        finally:
            ticket.release()

    async def _work(self, ticket: Ticket, engine: Engine, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
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
                raise queue_timeout(self._queue_timeout, self._retry_after) from None
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

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
import re
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from function.audio.encoding import output_rate
from function.engines.base import AudioChunk, Engine, InvalidTextError, SynthesisRequest, Voice
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


def shutting_down(retry_after: int) -> ServiceError:
    return ServiceError(Kind.UNAVAILABLE, "shutting_down",
                        "This instance is shutting down and takes no new work; retry (another instance will answer).",
                        retry_after=retry_after)


def deadline_exceeded(seconds: float, retry_after: int) -> ServiceError:
    return ServiceError(Kind.UNAVAILABLE, "deadline_exceeded",
                        f"The synthesis did not finish within {seconds:g} s (EMOTIVOICE_REQUEST_TIMEOUT_SECONDS).",
                        retry_after=retry_after)


# C0 controls other than tab, newline and carriage return (NUL included): an engine would silently stop
# or skip at them, so the text is refused rather than spoken partly.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(text: str, limit: int, param: str) -> None:
    """The checks every text gets before it takes a slot: cheap, and the same for every interface."""
    if not text.strip():
        raise ServiceError(Kind.INVALID, "empty_input", f"'{param}' must not be empty.", param=param)
    if _CONTROL.search(text):
        raise ServiceError(Kind.INVALID, "invalid_text", f"'{param}' contains control characters (such as NUL).",
                           param=param)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ServiceError(Kind.INVALID, "invalid_text", f"'{param}' contains unpaired UTF-16 surrogates.",
                           param=param)
    if len(text) > limit:
        raise ServiceError(Kind.TOO_LARGE, "input_too_long",
                           f"'{param}' has {len(text)} characters; the limit is {limit}.", param=param)
    if not has_speakable(text):
        raise ServiceError(Kind.INVALID, "invalid_text",
                           f"'{param}' has no letters, digits or Chinese characters to speak.", param=param)


_DONE = object()
_EXPIRED = object()  # the request deadline passed
_STALLED = object()  # the consumer stopped taking chunks


class Ticket:
    """An admitted job's slot, freed by ``release`` (idempotent, from any thread)."""

    def __init__(self, service: SynthesisService, batch: bool) -> None:
        self._service = service
        self.batch = batch
        self.released = False
        self.started = False  # a worker picked it up (it is no longer queued)
        self.admitted_at = time.monotonic()
        self.stats = JobStats()

    def release(self) -> None:
        self._service._release(self)


@dataclass(frozen=True)
class SynthesisLimits:
    """What bounds one process's synthesis; built from Settings by the runtime (the one place settings
    are read) and by the CLI."""

    workers: int
    queue_size: int
    queue_timeout_seconds: float
    retry_after_seconds: int
    max_input_chars: int
    interactive_reserved: int = 0  # slots batch items never take
    request_timeout_seconds: float = 300.0
    stall_timeout_seconds: float = 30.0
    max_buffered_chunks: int = 4

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size


class VoiceResolver(Protocol):
    """Custom voices (``function.service.custom_voices``), given to the service by the runtime: an id it
    ``handles`` is resolved into ``request.mix`` (plus the Voice to report) before the engine runs."""

    def handles(self, voice: str) -> bool: ...

    async def resolve(self, engine: Engine, request: SynthesisRequest) -> tuple[SynthesisRequest, Voice]: ...


class SynthesisService:
    voice_resolver: VoiceResolver | None = None  # set by the runtime; None: built-in voices only
    def __init__(self, host: EngineHost, metrics: Metrics, limits: SynthesisLimits) -> None:
        self._host, self._metrics, self.limits = host, metrics, limits
        self.workers, self.capacity, self.max_input_chars = limits.workers, limits.capacity, limits.max_input_chars
        # Batch items never take the last `interactive_reserved` slots (at least one slot stays theirs).
        self.batch_capacity = max(1, self.capacity - limits.interactive_reserved)
        self._queue_timeout, self._retry_after = limits.queue_timeout_seconds, limits.retry_after_seconds
        self._deadline, self._stall_timeout = limits.request_timeout_seconds, limits.stall_timeout_seconds
        self._buffered = limits.max_buffered_chunks
        self._executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="synth")
        self._lock = threading.Lock()
        self._admitted = 0
        self._queued = 0
        self._batch_admitted = 0
        self.draining = False
        metrics.capacity.set(self.capacity)

    @property
    def in_flight(self) -> int:
        return self._admitted

    # --- the pipeline -----------------------------------------------------------------------------
    async def open(self, request: SynthesisRequest, *, text_param: str = "text",
                   wait_for_slot: float | None = None, streaming: bool = False) -> Job:
        """Validate, admit, resolve voice and style, start the engine and wait for the first audio.

        ``wait_for_slot=None`` takes a slot or fails at once (interactive calls: the caller retries
        elsewhere); a number of seconds queues for one that long (batch items wait behind interactive
        traffic instead of failing). ``text_param`` names the text field in error messages. ``streaming``: the
        consumer streams, so an engine that can (EmotiVoice's chunked vocoder) yields sentences in pieces,
        the first one small: earlier first audio for a little more compute.
        Every failure before the first audio raises ServiceError; the slot is freed on any failure.
        """
        if self.draining:
            raise shutting_down(self._retry_after)
        check_text(request.text, self.max_input_chars, text_param)
        ticket = self.admit() if wait_for_slot is None else await self.admit_waiting(wait_for_slot)
        stream: AsyncIterator[AudioChunk] | None = None
        try:
            engine = await self.ready_engine(self._queue_timeout - (time.monotonic() - ticket.admitted_at))
            if self.voice_resolver is not None and self.voice_resolver.handles(request.voice):
                request, voice = await self.voice_resolver.resolve(engine, request)  # a custom voice -> mix
            else:
                voice = engine.resolve_voice(request.voice)
            style = engine.resolve_style(request.prompt)
            stream = self._run(ticket, engine, request, chunked=streaming)
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
    def admit(self, *, batch: bool = False) -> Ticket:
        """Take a slot or raise ``overloaded``. Never blocks. Batch work only gets a slot while
        ``interactive_reserved`` slots stay free for interactive calls."""
        with self._lock:
            full = self._admitted >= (self.batch_capacity if batch else self.capacity)
            if full or (batch and self._batch_admitted >= self.batch_capacity):
                self._metrics.jobs.labels("rejected").inc()
                raise overloaded(self.capacity, self._retry_after)
            self._admitted += 1
            self._queued += 1
            self._batch_admitted += batch
            self._publish()
        return Ticket(self, batch)

    async def admit_waiting(self, timeout: float) -> Ticket:
        """A batch slot, waiting up to ``timeout`` for one: batch work queues behind interactive traffic
        instead of failing, and never takes the reserved interactive slots."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if self.draining:
                raise shutting_down(self._retry_after)
            try:
                return self.admit(batch=True)
            except ServiceError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _publish(self) -> None:
        self._metrics.in_flight.set(self._admitted)
        self._metrics.queue_depth.set(self._queued)

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            self._admitted -= 1
            self._batch_admitted -= ticket.batch
            if not ticket.started:
                self._queued -= 1
            self._publish()

    def _start(self, ticket: Ticket) -> bool:
        """A worker picks the job up; False when it was released meanwhile (nothing to do)."""
        with self._lock:
            if ticket.released:
                return False
            ticket.started = True
            self._queued -= 1
            self._publish()
            return True

    # --- drain ------------------------------------------------------------------------------------
    def begin_drain(self) -> None:
        """Take no new work (503 ``shutting_down``); admitted work goes on."""
        self.draining = True
        self._metrics.draining.set(1)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until every admitted job finished (True) or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        while self._admitted > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # --- running ----------------------------------------------------------------------------------
    async def _run(self, ticket: Ticket, engine: Engine, request: SynthesisRequest,
                   chunked: bool = False) -> AsyncIterator[AudioChunk]:
        """The engine on a worker thread, its chunks handed over through an asyncio queue. The slot is
        released when this generator ends, however it ends."""
        try:
            async for chunk in self._work(ticket, engine, request, chunked):
                yield chunk
        finally:
            ticket.release()

    async def _work(self, ticket: Ticket, engine: Engine, request: SynthesisRequest,
                    chunked: bool) -> AsyncIterator[AudioChunk]:
        """Run the engine on a worker thread; chunks come back through an asyncio queue.

        Flow control: at most ``max_buffered_chunks`` chunks wait for the consumer; a worker that finds no
        room for ``stall_timeout`` seconds (a client that stopped reading) stops, frees the slot and counts
        a stalled stream. The whole job is bounded by ``request_timeout_seconds``.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        room = threading.Semaphore(self._buffered)  # chunks the consumer has not taken yet
        started = asyncio.Event()  # set from the worker thread through the loop
        cancelled = threading.Event()
        deadline = ticket.admitted_at + self._deadline

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            began = time.monotonic()
            loop.call_soon_threadsafe(started.set)
            if cancelled.is_set() or not self._start(ticket):
                put(_DONE)
                return
            ticket.stats.queue_seconds = began - ticket.admitted_at
            self._metrics.queue_wait.observe(ticket.stats.queue_seconds)
            try:
                pieces = getattr(engine, "synthesize_streaming", None) if chunked else None
                for chunk in (pieces or engine.synthesize)(request):
                    if ticket.stats.first_audio_seconds is None:
                        ticket.stats.first_audio_seconds = time.monotonic() - ticket.admitted_at
                    ticket.stats.audio_seconds += chunk.duration_seconds
                    for stage, seconds in chunk.timings.items():
                        ticket.stats.timings[stage] = ticket.stats.timings.get(stage, 0.0) + seconds
                    if not room.acquire(timeout=self._stall_timeout):
                        log.warning("consumer stopped taking audio; job stopped and its slot freed",
                                    extra={"stall_timeout_seconds": self._stall_timeout})
                        ticket.release()
                        put(_STALLED)
                        return
                    put(chunk)
                    if cancelled.is_set():
                        break
                    if time.monotonic() > deadline:
                        put(_EXPIRED)
                        return
                put(_DONE)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
                put(exc)
            finally:
                ticket.stats.compute_seconds = time.monotonic() - began

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
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    item = None
                if item is None or item is _EXPIRED:
                    outcome = "deadline"
                    self._metrics.deadline_exceeded.inc()
                    raise deadline_exceeded(self._deadline, self._retry_after) from None
                if item is _STALLED:
                    outcome = "stalled"
                    raise ServiceError(Kind.UNAVAILABLE, "stalled_client", "The client stopped reading the stream.")
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    outcome = "error"
                    raise item
                room.release()
                yield item  # type: ignore[misc]
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        finally:
            cancelled.set()
            room.release()  # a worker waiting for room wakes, sees `cancelled`, and stops
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

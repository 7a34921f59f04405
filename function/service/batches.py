"""Batch greetings: one request -> hundreds or thousands of personalised greetings in storage.

State lives in storage, not in the process, so any pod can work on any part and a crash loses nothing:

    batches/<id>/spec.json              the request (template, recipients, defaults)
    batches/<id>/chunks/<n>.json        per-chunk item statuses, rewritten after every item
    batches/<id>/audio/<recipient>-<hash>.<fmt>   one greeting per recipient (create-only)
    batches/<id>/manifest.jsonl         the final manifest: one JSON line per recipient

A chunk run skips items whose audio already exists, so a redelivered or resumed chunk never redoes
finished work. One bad recipient (template field missing, unknown voice, nothing to speak) is recorded as
failed and the batch goes on; retryable trouble (storage down, engine not ready) aborts the chunk with
its progress saved, for the caller (the broker, or a re-POST) to retry.

Owns batch state in storage. Must not import interfaces (``function.edge``, ``function.http``, ``function.events``, ``function.cli``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from function.audio.encoding import AudioFormat
from function.engines.base import SynthesisRequest
from function.errors import Kind, ServiceError, shown
from function.metrics import Metrics
from function.service.render import Renderer
from function.sink import Publisher, make_event
from function.storage import ObjectNotFound

log = logging.getLogger(__name__)

BATCH_CHUNK_TYPE = "dev.emotivoice.batch.chunk"  # the fan-out event; consumed by this same function
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Recipient(BaseModel):
    id: str = Field(..., pattern=_ID_PATTERN, description="Unique within the batch; used in object keys.")
    name: str = Field(..., max_length=200)
    voice: str | None = None
    emotion: str | None = None
    fields: dict[str, str] = Field(default_factory=dict, description="Extra template fields, e.g. {'city': '杭州'}.")


class BatchSpec(BaseModel):
    batch_id: str | None = Field(None, pattern=_ID_PATTERN, description="Idempotency key; derived if absent.")
    template: str = Field(..., min_length=1, max_length=1000, description="e.g. '{name}，新年快乐！'")
    recipients: list[Recipient] = Field(default_factory=list, description="Inline recipients, or use recipients_uri.")
    recipients_uri: str | None = Field(
        None, description="Instead of inline recipients: s3://bucket/key of a JSON-lines (or JSON array) file of "
        "recipients, for batches too large for one event (Kafka's default message limit is 1 MB)."
    )
    voice: str = "alloy"
    emotion: str = "开心"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: Literal["auto", "zh", "en"] = "auto"
    format: AudioFormat = "mp3"

    @field_validator("template")
    @classmethod
    def _simple_fields_only(cls, template: str) -> str:
        """Only ``{identifier}`` placeholders: no attribute or index access into Python objects."""
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ValueError(f"template is not a valid format string: {exc}") from exc
        for _, name, spec, conv in parsed:
            if name is not None and (not name.isidentifier() or spec or conv):
                raise ValueError(f"template placeholder {{{name}}} must be a plain {{identifier}}")
        return template

    @model_validator(mode="after")
    def _unique_ids(self) -> BatchSpec:
        if bool(self.recipients) == bool(self.recipients_uri):
            raise ValueError("give exactly one of 'recipients' (non-empty) and 'recipients_uri'")
        ids = [r.id for r in self.recipients]
        if len(ids) != len(set(ids)):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"recipient id {dup!r} appears more than once")
        return self

    def derived_id(self) -> str:
        body = self.model_dump_json(exclude={"batch_id"})
        return "b-" + hashlib.sha256(body.encode()).hexdigest()[:20]


class ItemStatus(BaseModel):
    id: str
    status: Literal["ok", "failed"]
    uri: str | None = None
    url: str | None = None
    duration_seconds: float | None = None
    checksum: str | None = None
    voice: str | None = None
    emotion: str | None = None
    error_code: str | None = None
    error: str | None = None
    reused: bool = False


class ChunkState(BaseModel):
    chunk: int
    start: int
    end: int
    complete: bool = False
    items: list[ItemStatus] = Field(default_factory=list)


class BatchStatus(BaseModel):
    id: str
    status: Literal["pending", "running", "completed"]
    total: int
    done: int
    ok: int
    failed: int
    chunks: int
    chunks_complete: int
    manifest_uri: str | None = None
    manifest_url: str | None = None


def batch_too_large(message: str) -> ServiceError:
    return ServiceError(Kind.TOO_LARGE, "batch_too_large", message, param="recipients")


def invalid_recipients(message: str) -> ServiceError:
    """The batch cannot be run as asked (its recipients file is missing or malformed): permanent."""
    return ServiceError(Kind.UNPROCESSABLE, "invalid_recipients", message, param="recipients_uri")


def batch_conflict(message: str) -> ServiceError:
    """The batch id exists with a different spec: a caller reused an id for other work."""
    return ServiceError(Kind.CONFLICT, "batch_conflict", message, param="batch_id")


def unknown_batch(batch_id: str) -> ServiceError:
    return ServiceError(Kind.NOT_FOUND, "unknown_batch", f"No batch {batch_id!r}.", param="batch_id")


def _text_or_empty(template: str, recipient: Recipient) -> str:
    try:
        return render_text(template, recipient)
    except (KeyError, IndexError, ValueError):
        return ""  # fails as an item (template_field_missing), costs nothing


def render_text(template: str, recipient: Recipient) -> str:
    values = {**recipient.fields, "name": recipient.name, "id": recipient.id}
    return template.format_map(values)


@dataclass(frozen=True)
class BatchLimits:
    """What bounds batches; built from Settings by the runtime."""

    max_recipients: int = 10_000
    chunk_size: int = 50
    workers: int = 2  # items of one chunk synthesised at once
    item_wait_seconds: float = 600.0  # how long an item queues for a batch slot
    max_total_chars: int = 1_000_000
    max_audio_seconds: float = 36_000.0
    max_running: int = 2  # background batches per pod
    max_per_subject: int = 2
    retry_after_seconds: int = 1


class BatchService:
    def __init__(self, renderer: Renderer, metrics: Metrics, publisher: Publisher, *, event_source: str,
                 limits: BatchLimits) -> None:
        self._renderer, self._storage, self._metrics = renderer, renderer.storage, metrics
        self._publisher, self._source, self.limits = publisher, event_source, limits
        self.chunk_size = limits.chunk_size
        self._turns = asyncio.Semaphore(limits.max_running)  # background batches worked on at once
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, str] = {}  # batch id -> subject, for batches this pod works on now
        self._again: set[str] = set()  # batches re-POSTed while running: run once more when the run ends
        self._draining = False

    # --- keys -------------------------------------------------------------------------------------
    def _key(self, batch_id: str, name: str) -> str:
        return self._storage.key(f"batches/{batch_id}/{name}")

    def chunk_count(self, spec: BatchSpec) -> int:
        return (len(spec.recipients) + self.chunk_size - 1) // self.chunk_size

    # --- lifecycle --------------------------------------------------------------------------------
    async def _resolve_recipients(self, spec: BatchSpec) -> BatchSpec:
        if not spec.recipients_uri:
            return spec
        try:
            raw = (await asyncio.to_thread(self._storage.read_reference, spec.recipients_uri)).decode("utf-8")
        except ObjectNotFound:
            raise invalid_recipients(f"recipients file {shown(spec.recipients_uri)} not found") from None
        except UnicodeDecodeError:
            raise invalid_recipients("the recipients file is not UTF-8") from None
        # Error messages below say where the file is wrong, never what it holds.
        try:
            stripped = raw.lstrip()
            rows = json.loads(stripped) if stripped.startswith("[") else [
                json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise invalid_recipients(f"the recipients file is not JSON lines or a JSON array "
                                     f"({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except (ValueError, RecursionError):
            raise invalid_recipients("the recipients file is not JSON lines or a JSON array") from None
        try:
            # The stored spec carries the recipients themselves: the file may change later, the batch must not.
            return BatchSpec.model_validate({**spec.model_dump(exclude={"recipients_uri"}), "recipients": rows})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "recipients"
            raise invalid_recipients(f"the recipients file is not valid: {exc.error_count()} problem(s), the first "
                                     f"at {where} ({first.get('type', 'invalid')})") from None

    async def create(self, spec: BatchSpec) -> tuple[str, BatchSpec]:
        """Store the spec (idempotently); return the batch id and the spec as stored (recipients resolved)."""
        spec = await self._resolve_recipients(spec)
        if len(spec.recipients) > self.limits.max_recipients:
            raise batch_too_large(f"{len(spec.recipients)} recipients; the limit is {self.limits.max_recipients}")
        chars = sum(len(_text_or_empty(spec.template, r)) for r in spec.recipients)
        if chars > self.limits.max_total_chars:
            raise batch_too_large(f"the greetings add up to {chars} characters; the limit is {self.limits.max_total_chars} "
                                  "(EMOTIVOICE_BATCH_MAX_TOTAL_CHARS)")
        batch_id = spec.batch_id or spec.derived_id()
        spec = spec.model_copy(update={"batch_id": batch_id})
        body = spec.model_dump_json().encode()
        key = self._key(batch_id, "spec.json")
        existing = await asyncio.to_thread(self._storage.head, key)
        if existing is not None:
            stored = BatchSpec.model_validate_json(await asyncio.to_thread(self._storage.get, key))
            if stored != spec:
                raise batch_conflict(f"batch {batch_id!r} already exists with a different request")
            return batch_id, spec
        await asyncio.to_thread(self._storage.put, key, body, "application/json",
                                {"recipients": str(len(spec.recipients))})
        return batch_id, spec

    async def spec(self, batch_id: str) -> BatchSpec:
        try:
            data = await asyncio.to_thread(self._storage.get, self._key(batch_id, "spec.json"))
        except ObjectNotFound:
            raise unknown_batch(batch_id) from None
        return BatchSpec.model_validate_json(data)

    async def run_chunk(self, batch_id: str, chunk: int) -> ChunkState:
        spec = await self.spec(batch_id)
        start = chunk * self.chunk_size
        end = min(len(spec.recipients), start + self.chunk_size)
        if not 0 <= start < len(spec.recipients):
            raise ServiceError(Kind.INVALID, "invalid_event_data", f"batch {batch_id!r} has no chunk {chunk}",
                               param="chunk")
        state = await self._load_chunk(batch_id, chunk) or ChunkState(chunk=chunk, start=start, end=end)
        if state.complete:
            return state
        finished = {item.id for item in state.items}
        todo = [r for r in spec.recipients[start:end] if r.id not in finished]
        lock = asyncio.Lock()
        gate = asyncio.Semaphore(self.limits.workers)
        # Audio budget: what every chunk produced so far (other pods' included), then this chunk's items.
        # Chunks running at the same time on other pods may overshoot it by at most their own items.
        used = [await self._audio_used(batch_id, spec)]

        async def one(recipient: Recipient) -> None:
            async with gate:
                if used[0] >= self.limits.max_audio_seconds:
                    self._metrics.batch_items.labels("failed").inc()
                    item = ItemStatus(id=recipient.id, status="failed", error_code="batch_audio_budget_exceeded",
                                      error=f"the batch reached its audio budget of {self.limits.max_audio_seconds:g} s "
                                      "(EMOTIVOICE_BATCH_MAX_AUDIO_SECONDS)")
                else:
                    item = await self._item(batch_id, spec, recipient)
                    used[0] += item.duration_seconds or 0.0
            async with lock:
                state.items.append(item)
                await self._save_chunk(batch_id, state)

        results = await asyncio.gather(*(one(r) for r in todo), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        order = {r.id: i for i, r in enumerate(spec.recipients)}
        state.items.sort(key=lambda it: order[it.id])
        state.complete = True
        await self._save_chunk(batch_id, state)
        return state

    async def _item(self, batch_id: str, spec: BatchSpec, recipient: Recipient) -> ItemStatus:
        try:
            text = render_text(spec.template, recipient)
        except (KeyError, IndexError, ValueError) as exc:
            self._metrics.batch_items.labels("failed").inc()
            return ItemStatus(id=recipient.id, status="failed", error_code="template_field_missing",
                              error=f"template needs field {exc}, which recipient {recipient.id!r} lacks")
        request = SynthesisRequest(text=text, voice=recipient.voice or spec.voice,
                                   prompt=recipient.emotion or spec.emotion, speed=spec.speed,
                                   language=spec.language, format=spec.format)
        key = self._key(batch_id, f"audio/{recipient.id}-{request.content_hash()[:12]}.{spec.format}")
        try:
            result = await self._renderer.render(request, key, {"batch-id": batch_id, "recipient-id": recipient.id},
                                                 wait_for_slot=self.limits.item_wait_seconds)
        except ServiceError as exc:
            if exc.kind.retryable:  # storage down, engine not ready: abort the chunk, progress is saved
                raise
            self._metrics.batch_items.labels("failed").inc()  # the recipient's data is wrong: record, go on
            return ItemStatus(id=recipient.id, status="failed", error_code=exc.code, error=exc.message)
        self._metrics.batch_items.labels("skipped" if result.reused else "ok").inc()
        return ItemStatus(id=recipient.id, status="ok", uri=result.object.uri, url=result.url,
                          duration_seconds=result.duration_seconds, checksum=result.checksum, voice=result.voice,
                          emotion=result.emotion, reused=result.reused)

    async def _load_chunk(self, batch_id: str, chunk: int) -> ChunkState | None:
        try:
            data = await asyncio.to_thread(self._storage.get, self._key(batch_id, f"chunks/{chunk:05d}.json"))
        except ObjectNotFound:
            return None
        return ChunkState.model_validate_json(data)

    async def _save_chunk(self, batch_id: str, state: ChunkState) -> None:
        await asyncio.to_thread(self._storage.put, self._key(batch_id, f"chunks/{state.chunk:05d}.json"),
                                state.model_dump_json().encode(), "application/json", {})

    async def finalize(self, batch_id: str) -> BatchStatus:
        """Write the manifest once every chunk is complete; return the status either way."""
        status, chunks = await self._status(batch_id)
        if status.chunks_complete == status.chunks:
            lines = [item.model_dump_json(exclude_none=True) for c in chunks for item in c.items]
            key = self._key(batch_id, "manifest.jsonl")
            obj = await asyncio.to_thread(self._storage.put, key, ("\n".join(lines) + "\n").encode(),
                                          "application/x-ndjson", {"completed-at": _now()})
            status.status = "completed"
            status.manifest_uri = obj.uri
            status.manifest_url = await self._renderer.presign(key)
        return status

    async def status(self, batch_id: str) -> BatchStatus:
        status, _ = await self._status(batch_id)
        if status.manifest_uri is not None:  # a link the caller can GET, as the completion reply has
            status.manifest_url = await self._renderer.presign(self._key(batch_id, "manifest.jsonl"))
        return status

    async def _status(self, batch_id: str) -> tuple[BatchStatus, list[ChunkState]]:
        spec = await self.spec(batch_id)
        n = self.chunk_count(spec)
        chunks = [c for c in await asyncio.gather(*(self._load_chunk(batch_id, i) for i in range(n))) if c]
        items = [it for c in chunks for it in c.items]
        complete = sum(1 for c in chunks if c.complete)
        manifest = await asyncio.to_thread(self._storage.head, self._key(batch_id, "manifest.jsonl"))
        state: Literal["pending", "running", "completed"] = (
            "completed" if manifest is not None and complete == n else ("running" if items or complete else "pending")
        )
        return BatchStatus(
            id=batch_id, status=state, total=len(spec.recipients), done=len(items),
            ok=sum(1 for it in items if it.status == "ok"), failed=sum(1 for it in items if it.status == "failed"),
            chunks=n, chunks_complete=complete, manifest_uri=manifest.uri if manifest else None,
        ), chunks

    async def _audio_used(self, batch_id: str, spec: BatchSpec) -> float:
        chunks = await asyncio.gather(*(self._load_chunk(batch_id, i) for i in range(self.chunk_count(spec))))
        return sum(it.duration_seconds or 0.0 for c in chunks if c for it in c.items)

    async def run_all(self, batch_id: str) -> BatchStatus:
        """Every chunk in this process, in order (no broker to fan out to)."""
        spec = await self.spec(batch_id)
        for chunk in range(self.chunk_count(spec)):
            await self.run_chunk(batch_id, chunk)
        return await self.finalize(batch_id)

    async def start(self, spec: BatchSpec, subject: str) -> tuple[str, str]:
        """Create the batch and set it going. Returns (batch id, mode):

        - ``fanout``: more than one chunk and a broker to publish to: one chunk event per chunk, so KPA
          scales out on the chunk deliveries instead of one pod grinding through the whole batch;
        - ``inline``: a single chunk: the caller runs it (``run_inline``, or ``run_in_background``);
        - ``background``: several chunks and no broker: this process works through them in the background.

        ``subject`` is who asked (JWT subject, event source): one subject may have at most
        ``max_per_subject`` batches running on this pod (429 ``too_many_batches`` beyond it).
        """
        if self._draining:
            raise ServiceError(Kind.UNAVAILABLE, "shutting_down", "This instance is shutting down; retry.",
                               retry_after=self.limits.retry_after_seconds)
        running = sum(1 for who in self._running.values() if who == subject)
        if running >= self.limits.max_per_subject and (spec.batch_id is None or spec.batch_id not in self._running):
            raise ServiceError(Kind.RATE_LIMITED, "too_many_batches",
                               f"{running} of your batches are running on this instance; the limit is "
                               f"{self.limits.max_per_subject} (EMOTIVOICE_BATCH_MAX_PER_SUBJECT). Retry when one finished.",
                               retry_after=max(1, self.limits.retry_after_seconds) * 10)
        batch_id, spec = await self.create(spec)
        chunks = self.chunk_count(spec)
        if chunks == 1:
            return batch_id, "inline"
        if self._publisher.enabled:
            for chunk in range(chunks):
                await self._publisher.publish(make_event(BATCH_CHUNK_TYPE, self._source, f"{batch_id}-chunk-{chunk:05d}",
                                                   {"batch_id": batch_id, "chunk": chunk}, subject=batch_id))
            return batch_id, "fanout"
        self.run_in_background(batch_id, subject)
        return batch_id, "background"

    async def run_inline(self, batch_id: str, subject: str) -> tuple[ChunkState, BatchStatus]:
        """A one-chunk batch, now, in the caller's request (the event ingress)."""
        self._running[batch_id] = subject
        try:
            state = await self.run_chunk(batch_id, 0)
            return state, await self.finalize(batch_id)
        finally:
            self._running.pop(batch_id, None)

    def run_in_background(self, batch_id: str, subject: str) -> None:
        """Work through the batch in this process, at most ``max_running`` batches at once (the rest
        wait their turn, status ``pending``). A batch already running here is not started twice."""
        if batch_id in self._running:
            # A resume asked while a run is in progress (perhaps one about to stop on a storage error):
            # that run goes through the batch once more when it ends, so an accepted re-POST never does nothing.
            self._again.add(batch_id)
            return
        self._running[batch_id] = subject

        async def runner() -> None:
            try:
                async with self._turns:
                    await self.run_all(batch_id)
            except Exception:
                log.exception("batch stopped; POST it again (same batch_id) to resume", extra={"batch": batch_id})
            finally:
                self._running.pop(batch_id, None)
                if batch_id in self._again and not self._draining:
                    self._again.discard(batch_id)
                    self.run_in_background(batch_id, subject)

        task = asyncio.get_running_loop().create_task(runner(), name=f"batch-{batch_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def begin_drain(self) -> None:
        """No new batches; batches already accepted go on (``wait_idle``)."""
        self._draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for the background batches (True when all finished within ``timeout``)."""
        pending = [t for t in self._tasks if not t.done()]
        if not pending:
            return True
        done, _ = await asyncio.wait(pending, timeout=max(0.0, timeout))
        return len(done) == len(pending)

    def cancel_background(self) -> None:
        """At exit: stop what is left; progress is saved per item, so a re-POST or redelivery resumes."""
        for task in self._tasks:
            task.cancel()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


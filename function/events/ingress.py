"""CloudEvents ingress on ``POST /`` (the Knative Functions convention), as the Kafka broker delivers them.

Status codes follow the broker's retry rules: retryable trouble (overload 429, engine loading, storage or
broker down 503) makes the broker back off and redeliver; a malformed event gets a 4xx and is
dead-lettered; a well-formed request that cannot be fulfilled (bad text, unknown voice) gets 200 with a
``*.failed`` reply event, so nothing loops and the failure is visible downstream. Every 2xx body is a
valid CloudEvent (binary mode), as the broker requires.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Annotated, Any

from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary
from cloudevents.core.formats.json import JSONFormat
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from function.engines.base import EngineError
from function.engines.text import has_speakable
from function.events import types as t
from function.http.context import AppContext, get_context
from function.http.errors import error_response
from function.service.batches import BatchConflict, BatchInvalid, BatchSpec, BatchStatus, BatchTooLarge
from function.service.render import RenderSpec
from function.service.synthesis import Overloaded, QueueTimeout, ServiceUnavailable
from function.sink import PublishFailed, make_event
from function.storage import ObjectNotFound, StorageError

log = logging.getLogger(__name__)
router = APIRouter(tags=["cloudevents"])
_REQUIRED = ("id", "source", "type", "specversion")


class EventRejected(Exception):
    """A malformed event: 4xx, dead-lettered."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Incoming(BaseModel):
    id: str
    source: str
    type: str
    data: dict[str, Any]

    @property
    def ref(self) -> t.RequestRef:
        return t.RequestRef(source=self.source, id=self.id)


def parse(headers: dict[str, str], body: bytes) -> Incoming:
    """Validate strictly (the SDK would invent a missing id, which would defeat idempotency), then parse
    with the cloudevents SDK."""
    lowered = {k.lower(): v for k, v in headers.items()}
    binary = any(k.startswith("ce-") for k in lowered)
    if binary:
        attrs = {name: lowered.get(f"ce-{name}") for name in _REQUIRED}
    else:
        if lowered.get("content-type", "").split(";")[0].strip() != "application/cloudevents+json":
            raise EventRejected(415, "not_a_cloudevent", "Send a CloudEvent: binary mode (ce-* headers) or "
                                "structured mode (application/cloudevents+json).")
        try:
            envelope = json.loads(body)
        except ValueError:
            raise EventRejected(400, "invalid_cloudevent", "The structured CloudEvent is not valid JSON.") from None
        if not isinstance(envelope, dict):
            raise EventRejected(400, "invalid_cloudevent", "The structured CloudEvent must be a JSON object.")
        attrs = {name: envelope.get(name) for name in _REQUIRED}
    missing = [name for name in _REQUIRED if not attrs.get(name)]
    if missing:
        raise EventRejected(400, "invalid_cloudevent", f"Missing required CloudEvents attribute(s): {', '.join(missing)}.")
    if attrs["specversion"] != "1.0":
        raise EventRejected(400, "unsupported_specversion",
                            f"specversion {attrs['specversion']!r} is not supported; use '1.0'.")
    if attrs["type"] not in t.CONSUMED:
        raise EventRejected(400, "unsupported_event_type",
                            f"Event type {attrs['type']!r} is not handled here; expected one of {', '.join(t.CONSUMED)}.")
    try:
        event = from_http(HTTPMessage(headers=lowered, body=body), JSONFormat())
    except Exception as exc:  # noqa: BLE001 - any SDK complaint is a malformed event
        raise EventRejected(400, "invalid_cloudevent", f"Not a valid CloudEvent: {exc}") from None
    ctype = (event.get_datacontenttype() or "application/json").split(";")[0].strip()
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise EventRejected(415, "unsupported_data_content_type",
                                f"Event data must be application/json, got {ctype!r}.")
        try:
            data = json.loads(data)
        except ValueError:
            raise EventRejected(400, "invalid_event_data", "Event data is not valid JSON.") from None
    if not isinstance(data, dict):
        raise EventRejected(400, "invalid_event_data", "Event data must be a JSON object.")
    return Incoming(id=str(attrs["id"]), source=str(attrs["source"]), type=str(attrs["type"]), data=data)


def reply(ctx: AppContext, incoming: Incoming, type_: str, data: BaseModel) -> Response:
    """A binary-mode CloudEvent response. Its id is derived from the request's identity, so a redelivered
    request gets the very same reply."""
    reply_id = hashlib.sha256(f"{type_}|{incoming.source}|{incoming.id}".encode()).hexdigest()[:32]
    event = make_event(type_, ctx.settings.event_source, reply_id, data.model_dump(mode="json"),
                       subject=incoming.id)
    message = to_binary(event, JSONFormat())
    return Response(message.body, status_code=200, headers=message.headers)


def _failed(ctx: AppContext, incoming: Incoming, type_: str, code: str, message: str) -> Response:
    ctx.metrics.events.labels(incoming.type, "failed").inc()
    return reply(ctx, incoming, type_, t.Failure(request=incoming.ref, code=code, message=message))


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "data"
    return f"Invalid event data at '{where}': {err.get('msg', 'invalid')}."


@router.post("/", summary="CloudEvents ingress (Knative broker delivery)")
async def receive_event(request: Request, ctx: Annotated[AppContext, Depends(get_context)]) -> Response:
    body = await request.body()
    event_type = request.headers.get("ce-type", "unknown")
    try:
        incoming = parse(dict(request.headers), body)
        event_type = incoming.type
        response = await _dispatch(ctx, incoming)
    except EventRejected as exc:
        ctx.metrics.events.labels(_label(event_type), "rejected").inc()
        return error_response(exc.status, exc.code, exc.message)
    except (Overloaded, QueueTimeout) as exc:
        ctx.metrics.events.labels(_label(event_type), "retry").inc()
        return error_response(429, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})
    except ServiceUnavailable as exc:
        ctx.metrics.events.labels(_label(event_type), "retry").inc()
        return error_response(503, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})
    except (StorageError, PublishFailed) as exc:
        ctx.metrics.events.labels(_label(event_type), "retry").inc()
        log.warning("retryable failure handling event", extra={"type": event_type, "error": str(exc)})
        return error_response(503, getattr(exc, "code", "unavailable"), f"Temporarily unable to complete: {exc}",
                              headers={"Retry-After": str(ctx.settings.retry_after_seconds)})
    return response


def _label(event_type: str) -> str:
    """Bounded label values: unknown types share one label."""
    return event_type if event_type in t.CONSUMED else "other"


async def _dispatch(ctx: AppContext, incoming: Incoming) -> Response:
    if incoming.type == t.SYNTHESIS_REQUESTED:
        return await _synthesis(ctx, incoming)
    if incoming.type == t.BATCH_REQUESTED:
        return await _batch(ctx, incoming)
    return await _chunk(ctx, incoming)


async def _synthesis(ctx: AppContext, incoming: Incoming) -> Response:
    try:
        data = t.SynthesisRequested.model_validate(incoming.data)
    except ValidationError as exc:
        return _failed(ctx, incoming, t.SYNTHESIS_FAILED, "invalid_event_data", _validation_message(exc))
    text = data.text
    if text is None:
        try:
            text = (await asyncio.to_thread(ctx.storage.read_uri, data.text_uri or "")).decode("utf-8")
        except ObjectNotFound as exc:
            return _failed(ctx, incoming, t.SYNTHESIS_FAILED, "input_not_found", str(exc))
        except UnicodeDecodeError:
            return _failed(ctx, incoming, t.SYNTHESIS_FAILED, "invalid_text", "text_uri is not UTF-8 text.")
    if len(text) > ctx.settings.max_input_chars:
        return _failed(ctx, incoming, t.SYNTHESIS_FAILED, "input_too_long",
                       f"text has {len(text)} characters; the limit is {ctx.settings.max_input_chars}.")
    if not has_speakable(text):
        return _failed(ctx, incoming, t.SYNTHESIS_FAILED, "invalid_text", "text has nothing to speak.")
    spec = RenderSpec(text=text, voice=data.voice, prompt=data.emotion or "", speed=data.speed,
                      language=data.language, format=data.format)
    identity = hashlib.sha256(f"{incoming.source}|{incoming.id}".encode()).hexdigest()[:20]
    key = ctx.storage.key(f"events/{identity}-{spec.content_hash()[:12]}.{data.format}")
    try:
        result = await ctx.renderer.render(spec, key, {"event-source": incoming.source[:200],
                                                       "event-id": incoming.id[:200]})
    except EngineError as exc:  # unknown voice, unspeakable text: the request is wrong
        return _failed(ctx, incoming, t.SYNTHESIS_FAILED, exc.code, exc.message)
    ctx.metrics.events.labels(incoming.type, "completed").inc()
    return reply(ctx, incoming, t.SYNTHESIS_COMPLETED, t.SynthesisCompleted(
        request=incoming.ref, uri=result.object.uri, url=result.url, content_type=result.object.content_type,
        bytes=result.object.size, duration_seconds=result.duration_seconds, voice=result.voice,
        emotion=result.emotion, emotion_fallback=result.emotion_fallback, checksum=result.checksum))


async def _batch(ctx: AppContext, incoming: Incoming) -> Response:
    try:
        spec = BatchSpec.model_validate(incoming.data)
        batch_id, mode = await ctx.batches.start(spec, ctx.publisher, ctx.settings.event_source)
    except ValidationError as exc:
        return _failed(ctx, incoming, t.BATCH_FAILED, "invalid_event_data", _validation_message(exc))
    except BatchTooLarge as exc:
        return _failed(ctx, incoming, t.BATCH_FAILED, "batch_too_large", str(exc))
    except BatchConflict as exc:
        return _failed(ctx, incoming, t.BATCH_FAILED, "batch_conflict", str(exc))
    except BatchInvalid as exc:
        return _failed(ctx, incoming, t.BATCH_FAILED, "invalid_recipients", str(exc))
    if mode == "inline":
        state = await ctx.batches.run_chunk(batch_id, 0)
        status = await ctx.batches.finalize(batch_id)
        ctx.metrics.events.labels(incoming.type, "completed").inc()
        return reply(ctx, incoming, t.BATCH_COMPLETED, t.BatchProgress(request=incoming.ref, batch=status,
                                                                       items=state.items))
    ctx.metrics.events.labels(incoming.type, "completed").inc()
    return reply(ctx, incoming, t.BATCH_PROGRESS,
                 t.BatchProgress(request=incoming.ref, batch=await ctx.batches.status(batch_id)))


async def _chunk(ctx: AppContext, incoming: Incoming) -> Response:
    try:
        data = t.BatchChunk.model_validate(incoming.data)
        state = await ctx.batches.run_chunk(data.batch_id, data.chunk)
    except ValidationError as exc:
        raise EventRejected(400, "invalid_event_data", _validation_message(exc)) from None
    except ObjectNotFound:
        raise EventRejected(400, "unknown_batch", "The chunk's batch does not exist.") from None
    except ValueError as exc:
        raise EventRejected(400, "invalid_event_data", str(exc)) from None
    status: BatchStatus = await ctx.batches.finalize(data.batch_id)
    ctx.metrics.events.labels(incoming.type, "completed").inc()
    kind = t.BATCH_COMPLETED if status.status == "completed" else t.BATCH_PROGRESS
    return reply(ctx, incoming, kind, t.BatchProgress(request=incoming.ref, batch=status, items=state.items))


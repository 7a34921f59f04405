"""CloudEvents ingress on ``POST /`` (the Knative Functions convention), as the Kafka broker delivers them.

The broker acts on the status code alone: it redelivers after 5xx/429/408/409/404 and dead-letters any
other 4xx. So every failure's answer follows from its kind (``function.errors``), decided once in
:func:`_answer`:

- retryable kinds (overloaded -> 429, unavailable -> 503, internal -> 500, with Retry-After): the broker
  backs off and redelivers;
- permanent kinds for a request event (synthesis, batch): 200 with a ``*.failed`` reply event, so nothing
  loops and the failure is visible downstream;
- permanent kinds otherwise (a malformed delivery, a bad chunk event): a 4xx the broker does not retry.

Every 2xx body is a valid CloudEvent (binary mode), as the broker requires. Must not import
``function.http``; what it shares with the HTTP routes comes from ``function.edge``.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from function.edge.context import RuntimeDep
from function.edge.errors import error_response
from function.engines.base import SynthesisRequest
from function.errors import Kind, ServiceError
from function.events import types as t
from function.events.envelope import Incoming, parse, reply
from function.service.batches import BatchSpec
from function.service.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["cloudevents"])

# Request events whose permanent failures are answered with a reply event rather than a 4xx.
FAILED_REPLY = {t.SYNTHESIS_REQUESTED: t.SYNTHESIS_FAILED, t.BATCH_REQUESTED: t.BATCH_FAILED}
# 4xx statuses the Kafka broker retries: a permanent failure must not be answered with one of them.
_BROKER_RETRIES = frozenset({404, 408, 409, 429})
M = TypeVar("M", bound=BaseModel)
_RETRY_STATUS = {Kind.OVERLOADED: 429, Kind.RATE_LIMITED: 429, Kind.UNAVAILABLE: 503, Kind.INTERNAL: 500}


@router.post("/", summary="CloudEvents ingress (Knative broker delivery)")
async def receive_event(request: Request, rt: RuntimeDep) -> Response:
    body = await request.body()
    try:
        incoming = parse(dict(request.headers), body)
    except ServiceError as exc:
        return _answer(rt, None, request.headers.get("ce-type", "unknown"), exc)
    try:
        return await _dispatch(rt, incoming)
    except ServiceError as exc:
        return _answer(rt, incoming, incoming.type, exc)


def _answer(rt: Runtime, incoming: Incoming | None, event_type: str, exc: ServiceError) -> Response:
    """The one mapping of a failure's kind to what the broker should do."""
    label = event_type if event_type in t.CONSUMED else "other"  # bounded label values
    if exc.kind.retryable:
        rt.metrics.events.labels(label, "retry").inc()
        log.warning("retryable failure handling event", extra={"type": label, "code": exc.code, "error": exc.message})
        if exc.retry_after is None:
            exc.retry_after = rt.settings.retry_after_seconds
        return error_response(exc, status=_RETRY_STATUS[exc.kind])
    if incoming is not None and incoming.type in FAILED_REPLY:
        rt.metrics.events.labels(label, "failed").inc()
        return reply(rt.settings.event_source, incoming, FAILED_REPLY[incoming.type],
                     t.Failure(request=incoming.ref, code=exc.code, message=exc.message))
    rt.metrics.events.labels(label, "rejected").inc()
    status = exc.kind.http_status
    return error_response(exc, status=400 if status in _BROKER_RETRIES else status)


def _completed(rt: Runtime, incoming: Incoming, type_: str, data: BaseModel) -> Response:
    rt.metrics.events.labels(incoming.type, "completed").inc()
    return reply(rt.settings.event_source, incoming, type_, data)


def _data(model: type[M], incoming: Incoming) -> M:
    try:
        return model.model_validate(incoming.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "data"
        raise ServiceError(Kind.INVALID, "invalid_event_data",
                           f"Invalid event data at '{where}': {err.get('msg', 'invalid')}.") from None


async def _dispatch(rt: Runtime, incoming: Incoming) -> Response:
    if incoming.type == t.SYNTHESIS_REQUESTED:
        return await _synthesis(rt, incoming)
    if incoming.type == t.BATCH_REQUESTED:
        return await _batch(rt, incoming)
    return await _chunk(rt, incoming)


async def _synthesis(rt: Runtime, incoming: Incoming) -> Response:
    data = _data(t.SynthesisRequested, incoming)
    request = SynthesisRequest(text=data.text or "", voice=data.voice, prompt=data.emotion or "", speed=data.speed,
                               language=data.language, format=data.format)
    result = await rt.renderer.render_event(incoming.source, incoming.id, request, data.text_uri)
    return _completed(rt, incoming, t.SYNTHESIS_COMPLETED, t.SynthesisCompleted(
        request=incoming.ref, uri=result.object.uri, url=result.url, content_type=result.object.content_type,
        bytes=result.object.size, duration_seconds=result.duration_seconds, voice=result.voice,
        emotion=result.emotion, emotion_fallback=result.emotion_fallback, checksum=result.checksum))


async def _batch(rt: Runtime, incoming: Incoming) -> Response:
    batch_id, mode = await rt.batches.start(_data(BatchSpec, incoming), subject=incoming.source)
    if mode == "inline":
        state, status = await rt.batches.run_inline(batch_id, subject=incoming.source)
        return _completed(rt, incoming, t.BATCH_COMPLETED, t.BatchProgress(request=incoming.ref, batch=status,
                                                                            items=state.items))
    return _completed(rt, incoming, t.BATCH_PROGRESS,
                      t.BatchProgress(request=incoming.ref, batch=await rt.batches.status(batch_id)))


async def _chunk(rt: Runtime, incoming: Incoming) -> Response:
    data = _data(t.BatchChunk, incoming)
    state = await rt.batches.run_chunk(data.batch_id, data.chunk)
    status = await rt.batches.finalize(data.batch_id)
    kind = t.BATCH_COMPLETED if status.status == "completed" else t.BATCH_PROGRESS
    return _completed(rt, incoming, kind, t.BatchProgress(request=incoming.ref, batch=status, items=state.items))

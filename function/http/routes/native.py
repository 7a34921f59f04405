"""Native synthesis API: explicit speaker, emotion or free-text prompt, language, and JSON metadata."""

from __future__ import annotations

import base64
import time
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response, StreamingResponse

from function.audio.encoding import CONTENT_TYPES, make_encoder, output_rate
from function.engines.base import SynthesisRequest
from function.http import audio_stream
from function.http.context import AppContext, get_context
from function.http.job import begin
from function.http.schemas import ErrorOut, SynthesizeMetadata, SynthesizeRequest

router = APIRouter(tags=["native"])
_ERRORS = {code: {"model": ErrorOut} for code in (400, 413, 415, 422, 503)}


@router.post(
    "/v1/synthesize",
    responses={200: {"content": {**{t: {} for t in set(CONTENT_TYPES.values())},
                                 "application/json": {"schema": SynthesizeMetadata.model_json_schema()}}},
               **_ERRORS},
    summary="Synthesise with explicit speaker, emotion/prompt and language",
)
async def synthesize(body: SynthesizeRequest, ctx: Annotated[AppContext, Depends(get_context)]) -> Response:
    started_at = time.perf_counter()
    request = SynthesisRequest(
        text=body.text, voice=body.speaker, prompt=body.style_prompt, speed=body.speed, language=body.language
    )
    job = await begin(ctx, request, "text")
    rate = output_rate(body.format, body.sample_rate or job.engine.sample_rate)
    headers = job.headers(rate)
    media_type = CONTENT_TYPES[body.format]
    if body.stream and not body.metadata:
        encoder = make_encoder(body.format, job.engine.sample_rate, rate, streaming=True)
        return StreamingResponse(audio_stream.encoded(job.started, encoder), media_type=media_type, headers=headers)
    encoder = make_encoder(body.format, job.engine.sample_rate, rate, streaming=False)
    encode_started = time.perf_counter()
    audio, chunks = await audio_stream.collect(job.started, encoder)
    stats = job.ticket.stats
    if not body.metadata:
        return Response(audio, media_type=media_type, headers=headers)
    engine_seconds = sum(stats.timings.values())
    timings = {
        "queue": round(stats.queue_seconds, 6),
        **{k: round(v, 6) for k, v in stats.timings.items()},
        "encode": round(max(0.0, time.perf_counter() - encode_started - stats.compute_seconds), 6),
        "engine_total": round(engine_seconds, 6),
        "total": round(time.perf_counter() - started_at, 6),
    }
    meta = SynthesizeMetadata(
        audio=base64.b64encode(audio).decode(),
        format=body.format,
        content_type=media_type,
        sample_rate=rate,
        duration_seconds=round(sum(c.duration_seconds for c in chunks), 6),
        engine=job.engine.name,
        voice=job.voice.id,
        emotion=job.style.emotion,
        emotion_fallback=job.style.fallback,
        sentences=len(chunks),
        timings=timings,
    )
    return JSONResponse(meta.model_dump(), headers=headers)

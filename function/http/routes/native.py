"""Native synthesis API: explicit speaker, emotion or free-text prompt, language, and JSON metadata.

Imports ``function.edge`` and the service layer; never ``function.events``.
"""

from __future__ import annotations

import base64
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from function.audio.encoding import CONTENT_TYPES
from function.edge.context import RuntimeDep
from function.engines.base import SynthesisRequest
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
async def synthesize(body: SynthesizeRequest, rt: RuntimeDep) -> Response:
    started_at = time.perf_counter()
    request = SynthesisRequest(text=body.text, voice=body.speaker, prompt=body.style_prompt, speed=body.speed,
                               language=body.language, format=body.format, sample_rate=body.sample_rate)
    streaming = body.stream and not body.metadata
    job = await rt.synthesis.open(request, text_param="text", streaming=streaming)
    if streaming:
        return StreamingResponse(job.encoded(), media_type=job.media_type, headers=job.headers())
    encode_started = time.perf_counter()
    audio, chunks = await job.whole()
    if not body.metadata:
        return Response(audio, media_type=job.media_type, headers=job.headers())
    stats = job.stats
    timings = {
        "queue": round(stats.queue_seconds, 6),
        **{k: round(v, 6) for k, v in stats.timings.items()},
        "encode": round(max(0.0, time.perf_counter() - encode_started - stats.compute_seconds), 6),
        "engine_total": round(sum(stats.timings.values()), 6),
        "total": round(time.perf_counter() - started_at, 6),
    }
    meta = SynthesizeMetadata(
        audio=base64.b64encode(audio).decode(),
        format=body.format,
        content_type=job.media_type,
        sample_rate=job.sample_rate,
        duration_seconds=round(sum(c.duration_seconds for c in chunks), 6),
        engine=job.engine.name,
        voice=job.voice.id,
        emotion=job.style.emotion,
        emotion_fallback=job.style.fallback,
        sentences=len(chunks),
        timings=timings,
    )
    return JSONResponse(meta.model_dump(), headers=job.headers())

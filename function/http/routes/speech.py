"""OpenAI-compatible speech API: what an unmodified OpenAI SDK calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from function.audio.encoding import CONTENT_TYPES, make_encoder, output_rate
from function.engines.base import SynthesisRequest
from function.http import audio_stream
from function.http.context import AppContext, get_context
from function.http.job import begin
from function.http.schemas import ErrorOut, ModelOut, ModelsOut, SpeechRequest, VoiceOut, VoicesOut

router = APIRouter(tags=["openai"])

OPENAI_RATE = 24_000  # OpenAI's speech output rate; clients decoding raw pcm assume it
_ERRORS = {code: {"model": ErrorOut} for code in (400, 413, 415, 422, 503)}
MODEL_IDS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


@router.post(
    "/v1/audio/speech",
    responses={200: {"content": {t: {} for t in set(CONTENT_TYPES.values()) | {"text/event-stream"}}}, **_ERRORS},
    summary="Create speech (OpenAI-compatible)",
)
async def create_speech(body: SpeechRequest, ctx: Annotated[AppContext, Depends(get_context)]) -> Response:
    request = SynthesisRequest(
        text=body.input, voice=body.voice_id, prompt=body.instructions or "", speed=body.speed
    )
    job = await begin(ctx, request, "input")
    rate = output_rate(body.response_format, OPENAI_RATE)
    encoder = make_encoder(body.response_format, job.engine.sample_rate, rate, streaming=True)
    headers = job.headers(rate)
    if body.stream_format == "sse":
        return StreamingResponse(
            audio_stream.sse(job.started, encoder, len(body.input)), media_type="text/event-stream", headers=headers
        )
    return StreamingResponse(
        audio_stream.encoded(job.started, encoder), media_type=CONTENT_TYPES[body.response_format], headers=headers
    )


@router.get("/v1/audio/voices", response_model=VoicesOut, responses={503: {"model": ErrorOut}})
async def list_voices(ctx: Annotated[AppContext, Depends(get_context)]) -> VoicesOut:
    engine = await ctx.engine()
    return VoicesOut(
        engine=engine.name,
        data=[
            VoiceOut(id=v.id, name=v.name, gender=v.gender, language=v.language, description=v.description,
                     aliases=list(v.aliases))
            for v in engine.voices()
        ],
    )


@router.get("/v1/models", response_model=ModelsOut)
async def list_models(ctx: Annotated[AppContext, Depends(get_context)]) -> ModelsOut:
    """OpenAI's model names are accepted for compatibility; all are served by the configured engine."""
    engine_name = ctx.settings.chosen_engine()
    return ModelsOut(data=[ModelOut(id=m) for m in (engine_name, *MODEL_IDS)])

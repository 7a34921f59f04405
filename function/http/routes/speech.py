"""OpenAI-compatible speech API: what an unmodified OpenAI SDK calls (voices: ``routes.voices``).

Imports ``function.edge`` and the service layer; never ``function.events``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from function.audio.encoding import CONTENT_TYPES
from function.edge.context import RuntimeDep
from function.engines.base import SynthesisRequest
from function.http.schemas import ErrorOut, ModelOut, ModelsOut, SpeechRequest
from function.http.sse import sse

router = APIRouter(tags=["openai"])

OPENAI_RATE = 24_000  # OpenAI's speech output rate; clients decoding raw pcm assume it
_ERRORS = {code: {"model": ErrorOut} for code in (400, 413, 415, 422, 503)}
MODEL_IDS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


@router.post(
    "/v1/audio/speech",
    responses={200: {"content": {t: {} for t in set(CONTENT_TYPES.values()) | {"text/event-stream"}}}, **_ERRORS},
    summary="Create speech (OpenAI-compatible)",
)
async def create_speech(body: SpeechRequest, rt: RuntimeDep) -> Response:
    request = SynthesisRequest(text=body.input, voice=body.voice_id, prompt=body.instructions or "", speed=body.speed,
                               format=body.response_format, sample_rate=OPENAI_RATE)
    job = await rt.synthesis.open(request, text_param="input", streaming=True)
    if body.stream_format == "sse":
        return StreamingResponse(sse(job, len(body.input)), media_type="text/event-stream", headers=job.headers())
    return StreamingResponse(job.encoded(), media_type=job.media_type, headers=job.headers())


@router.get("/v1/models", response_model=ModelsOut)
async def list_models(rt: RuntimeDep) -> ModelsOut:
    """OpenAI's model names are accepted for compatibility; all are served by the configured engine."""
    engine_name = rt.settings.chosen_engine()
    return ModelsOut(data=[ModelOut(id=m) for m in (engine_name, *MODEL_IDS)])

"""Voices over HTTP: the list (built-in voices and the caller's custom voices, marked), and custom voices
by voice matching: ``POST /v1/audio/voices`` (multipart upload as OpenAI's SDK sends it, or JSON with an
``s3://`` key in our bucket) and ``DELETE /v1/audio/voices/{id}``.

Creating and deleting need the ``voices:write`` scope (``function.http.access``); listing needs
``voices``. Who "the caller" is (owner of custom voices, per-caller limit) is the same as for batches: the
JWT subject with auth on, else the client address.

Imports ``function.edge``, the service layer and the HTTP schemas; never ``function.events``.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from function.edge.context import RuntimeDep
from function.edge.errors import validation_error
from function.errors import Kind, ServiceError, shown
from function.http.routes.batches import caller
from function.http.schemas import (
    CustomVoiceCreate,
    CustomVoiceDeleted,
    CustomVoiceOut,
    ErrorOut,
    VoiceMatchOut,
    VoiceOut,
    VoicesOut,
)
from function.service.custom_voices import Created, CustomVoice
from function.storage import StorageError

router = APIRouter(tags=["voices"])

VOICES_PATH = "/v1/audio/voices"
_FILE_FIELDS = ("audio_sample", "file")  # OpenAI's SDK names the upload audio_sample
_MAX_FIELD_BYTES = 64 * 1024


def upload_body_limit(max_clip_bytes: int) -> int:
    """The body size allowed on POST /v1/audio/voices: one clip plus room for the multipart framing."""
    return max_clip_bytes + _MAX_FIELD_BYTES


def _matches(voice: CustomVoice) -> list[VoiceMatchOut]:
    return [VoiceMatchOut(voice=m.voice, similarity=m.similarity, weight=m.weight) for m in voice.matches]


def _out(voice: CustomVoice, *, blended: bool, reused: bool = False) -> CustomVoiceOut:
    return CustomVoiceOut(id=voice.id, name=voice.name, created_at=voice.created_at, engine=voice.engine,
                          blended=blended, spoken_as=None if blended else voice.mix.heaviest,
                          matches=_matches(voice), reference=dict(voice.reference), reused=reused)


@router.get(VOICES_PATH, response_model=VoicesOut, responses={503: {"model": ErrorOut}},
            summary="List built-in voices and your custom voices")
async def list_voices(rt: RuntimeDep, request: Request) -> VoicesOut:
    """Custom voices first (``custom: true``, with their matches), then the engine's built-in voices. When
    storage cannot be read the built-in voices are still listed (``custom_voices_unavailable``)."""
    engine = await rt.synthesis.ready_engine()
    custom: list[VoiceOut] = []
    unavailable = False
    try:
        for v in await rt.custom_voices.list(caller(request)):
            try:  # gender and language of the heaviest match, so the list reads like the built-in one
                like = engine.resolve_voice(v.mix.heaviest)
                gender, language = like.gender, like.language
            except ServiceError:  # made against another model whose voice this engine lacks
                gender, language = "unknown", ""
            custom.append(VoiceOut(
                id=v.id, name=v.name, gender=gender, language=language, custom=True, matches=_matches(v), aliases=[],
                description="custom voice (voice matching): " + ", ".join(f"{m.voice} {m.weight:.0%}"
                                                                          for m in v.matches)))
    except StorageError:
        unavailable = True
    builtin = [VoiceOut(id=v.id, name=v.name, gender=v.gender, language=v.language, description=v.description,
                        aliases=list(v.aliases)) for v in engine.voices()]
    return VoicesOut(engine=engine.name, data=custom + builtin, custom_voices_unavailable=unavailable)


@router.post(
    VOICES_PATH, status_code=201, response_model=CustomVoiceOut,
    responses={200: {"model": CustomVoiceOut, "description": "The same clip was already your voice."},
               **{code: {"model": ErrorOut} for code in (400, 403, 404, 409, 413, 415, 422, 503)}},
    openapi_extra={"requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["name", "audio_sample"], "properties": {
            "name": {"type": "string"}, "audio_sample": {"type": "string", "format": "binary"},
            "keep_reference": {"type": "boolean"}, "consent": {"type": "string"},
            "type": {"type": "string", "enum": ["audio_sample"]}}}},
        "application/json": {"schema": CustomVoiceCreate.model_json_schema()}}, "required": True}},
    summary="Create a custom voice by voice matching (not cloning)",
)
async def create_voice(rt: RuntimeDep, request: Request) -> JSONResponse:
    """Match a reference clip (3-30 s of speech; WAV, FLAC, MP3 or Ogg) to the nearest built-in voices and
    store the result as a voice usable wherever a voice is taken. 201 when created, 200 with
    ``reused: true`` when the same clip was already your voice."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):  # a form without a file: 400
        name, data, keep, consent = await _multipart(request)
        created = await rt.custom_voices.create(caller(request), name, data=data, keep_reference=keep,
                                                consent=consent)
    elif ctype == "application/json":
        body = _json_body(await request.body())
        created = await rt.custom_voices.create(caller(request), body.name, uri=body.audio_uri,
                                                keep_reference=body.keep_reference, consent=body.consent)
    else:
        raise ServiceError(Kind.UNSUPPORTED_MEDIA, "unsupported_media_type",
                           "Send multipart/form-data (file 'audio_sample', field 'name') or application/json "
                           f"({{'name', 'audio_uri'}}); got {shown(ctype) if ctype else 'no content type'}.")
    return _created(rt, created)


def _created(rt: RuntimeDep, created: Created) -> JSONResponse:
    blended = bool(getattr(rt.host.engine, "supports_mix", False))  # loaded: create() waited for it
    out = _out(created.voice, blended=blended, reused=created.reused)
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if created.reused else 201,
                        headers={"Location": f"{VOICES_PATH}/{created.voice.id}"})


def _json_body(raw: bytes) -> CustomVoiceCreate:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServiceError(Kind.INVALID, "invalid_json", "The request body is not valid JSON.") from None
    if isinstance(data, dict) and data.get("type", "audio_sample") != "audio_sample":
        raise ServiceError(Kind.INVALID, "unsupported_voice_type",
                           "Only type 'audio_sample' (voice matching from a clip) is supported; voices from "
                           "text prompts are not.", param="type")
    try:
        return CustomVoiceCreate.model_validate(data)
    except ValidationError as exc:
        raise validation_error(RequestValidationError(exc.errors())) from None


async def _multipart(request: Request) -> tuple[str, bytes, bool, str | None]:
    """(name, clip bytes, keep_reference, consent) from a multipart body, one file at most."""
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=_MAX_FIELD_BYTES)
    except Exception as exc:  # noqa: BLE001 - starlette's MultiPartException / HTTPException: a malformed body
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or type(exc).__name__
        raise ServiceError(Kind.INVALID, "invalid_multipart", f"The multipart body cannot be read: {detail}") from None
    try:
        upload = next((form[f] for f in _FILE_FIELDS if isinstance(form.get(f), UploadFile)), None)
        if upload is None:
            raise ServiceError(Kind.INVALID, "missing_audio", "Attach the reference clip as the file field "
                               "'audio_sample' (or 'file').", param="audio_sample")
        data = await upload.read()  # type: ignore[union-attr]
        name = form.get("name")
        kind = form.get("type")
        if kind not in (None, "audio_sample"):
            raise ServiceError(Kind.INVALID, "unsupported_voice_type",
                               "Only type 'audio_sample' (voice matching from a clip) is supported; voices from "
                               "text prompts are not.", param="type")
        keep = str(form.get("keep_reference", "false")).strip().lower() in ("1", "true", "yes", "on")
        consent = form.get("consent")
        return (name if isinstance(name, str) else "", data, keep,
                consent[:200] if isinstance(consent, str) else None)
    finally:
        await form.close()


@router.delete(f"{VOICES_PATH}/{{voice_id}}", response_model=CustomVoiceDeleted,
               responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}}, summary="Delete one of your custom voices")
async def delete_voice(voice_id: Annotated[str, Path(max_length=64)], rt: RuntimeDep,
                       request: Request) -> CustomVoiceDeleted:
    await rt.custom_voices.delete(caller(request), voice_id)
    return CustomVoiceDeleted(id=voice_id.strip().lower())

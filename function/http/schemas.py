"""Request and response models at the HTTP edge. Field names and defaults follow OpenAI's speech API so
an unmodified OpenAI SDK call validates; our extensions live on the native API.

Pydantic models only; imports leaves, never the service layer's internals or ``function.events``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from function.audio.encoding import AudioFormat


class VoiceRef(BaseModel):
    """OpenAI's newer SDKs may send ``{"id": "..."}`` for a custom voice."""

    id: str


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech`` (OpenAI-compatible)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("tts-1", description="Accepted for compatibility; the configured engine answers.")
    input: str = Field(..., description="Text to speak (Chinese, English or mixed).")
    voice: str | VoiceRef = Field(..., description="A voice id, name, or OpenAI voice name (alloy, echo, ...).")
    instructions: str | None = Field(None, description="Emotion/style prompt, e.g. '开心' or 'very sad'.")
    response_format: AudioFormat = Field("mp3")
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = Field("audio")

    @property
    def voice_id(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


class SynthesizeRequest(BaseModel):
    """``POST /v1/synthesize`` (native): explicit emotion/prompt, speaker and language."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="Text to speak.")
    speaker: str = Field(..., description="Voice id (for EmotiVoice a speaker id such as '8051') or alias.")
    emotion: str | None = Field(None, description="One of the seven emotions, in Chinese or English.")
    prompt: str | None = Field(None, description="Free-text style prompt; overrides emotion when both are set.")
    language: Literal["auto", "zh", "en"] = "auto"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    format: AudioFormat = Field("wav")
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="Output rate; default the engine's.")
    stream: bool = Field(False, description="Stream audio as sentences are synthesised.")
    metadata: bool = Field(
        False, description="Return JSON (base64 audio + duration, sample rate, engine, timings) instead of audio."
    )

    @field_validator("emotion")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v is not None else None

    @property
    def style_prompt(self) -> str:
        return (self.prompt or self.emotion or "").strip()


class SynthesizeMetadata(BaseModel):
    audio: str = Field(..., description="Base64 of the encoded audio.")
    format: AudioFormat
    content_type: str
    sample_rate: int
    duration_seconds: float
    engine: str
    voice: str
    emotion: str
    emotion_fallback: bool
    sentences: int
    timings: dict[str, float] = Field(..., description="Seconds per stage: queue, per-engine stages, encode, total.")


class VoiceOut(BaseModel):
    id: str
    name: str
    gender: str
    language: str
    description: str
    aliases: list[str]


class VoicesOut(BaseModel):
    object: Literal["list"] = "list"
    engine: str
    data: list[VoiceOut]


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "emotivoice-serverless"


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    param: str | None = None
    type: str


class ErrorOut(BaseModel):
    error: ErrorBody

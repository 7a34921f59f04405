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


class VoiceMatchOut(BaseModel):
    voice: str = Field(..., description="Built-in voice id.")
    similarity: float = Field(..., description="Cosine similarity of its embedding to the reference clip's.")
    weight: float = Field(..., description="Share in the blend; the weights of one voice sum to 1.")


class VoiceOut(BaseModel):
    id: str
    name: str
    gender: str
    language: str
    description: str
    aliases: list[str]
    custom: bool = Field(False, description="A custom voice (voice matching, POST /v1/audio/voices): a mix of the "
                         "built-in voices in 'matches', not a cloned voice.")
    matches: list[VoiceMatchOut] | None = None


class CustomVoiceCreate(BaseModel):
    """``POST /v1/audio/voices`` as JSON: the clip by reference (multipart uploads carry the file instead)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Your name for the voice (unique among your voices).")
    audio_uri: str = Field(..., description="s3://<this service's bucket>/<key> of the clip (file:// with local "
                           "storage); other buckets and URLs are refused.")
    keep_reference: bool = Field(False, description="Also store the clip (default: only its hash and embedding).")
    consent: str | None = Field(None, max_length=200, description="Accepted for OpenAI compatibility; stored as is.")
    type: Literal["audio_sample"] = "audio_sample"


class CustomVoiceOut(BaseModel):
    """A custom voice, as created or listed. ``object`` and ``type`` follow OpenAI's ``audio.voice``."""

    id: str
    object: Literal["audio.voice"] = "audio.voice"
    type: Literal["audio_sample"] = "audio_sample"
    name: str
    created_at: int
    engine: str = Field(..., description="Engine whose built-in voices it was matched against.")
    blended: bool = Field(..., description="True when this engine blends the matches; False (espeak): the "
                          "heaviest match speaks alone and responses name it as the voice.")
    spoken_as: str | None = Field(None, description="With blended=false: the built-in voice that speaks.")
    matches: list[VoiceMatchOut]
    reference: dict[str, object] = Field(..., description="sha256, bytes, format, sample_rate, channels, seconds, "
                                         "speech_seconds, uri (only when kept).")
    reused: bool = Field(False, description="The same clip was already your voice: that voice is returned.")


class CustomVoiceDeleted(BaseModel):
    id: str
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"
    deleted: bool = True


class VoicesOut(BaseModel):
    object: Literal["list"] = "list"
    engine: str
    data: list[VoiceOut]
    custom_voices_unavailable: bool = Field(False, description="Storage could not be read: only built-in voices "
                                            "are listed.")


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

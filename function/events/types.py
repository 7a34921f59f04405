"""The CloudEvents this function consumes and emits, with a pydantic model (and so a JSON schema) for the
data of each. Types are reverse-DNS and versioned by name; replies never reuse a consumed type, so a
Trigger filtering on the consumed types can never route a reply back here (no loops).

Imports the service's batch models and leaves; never ``function.http``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from function.audio.encoding import AudioFormat
from function.service.batches import BATCH_CHUNK_TYPE, BatchSpec, BatchStatus, ItemStatus

PREFIX = "dev.emotivoice."

# consumed
SYNTHESIS_REQUESTED = PREFIX + "synthesis.requested"
BATCH_REQUESTED = PREFIX + "batch.requested"
BATCH_CHUNK = BATCH_CHUNK_TYPE
CONSUMED = (SYNTHESIS_REQUESTED, BATCH_REQUESTED, BATCH_CHUNK)

# emitted
SYNTHESIS_COMPLETED = PREFIX + "synthesis.completed"
SYNTHESIS_FAILED = PREFIX + "synthesis.failed"
BATCH_PROGRESS = PREFIX + "batch.progress"
BATCH_COMPLETED = PREFIX + "batch.completed"
BATCH_FAILED = PREFIX + "batch.failed"
EMITTED = (SYNTHESIS_COMPLETED, SYNTHESIS_FAILED, BATCH_PROGRESS, BATCH_COMPLETED, BATCH_FAILED)


class SynthesisRequested(BaseModel):
    """Data of ``dev.emotivoice.synthesis.requested``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, min_length=1, description="Text to speak (≤ EMOTIVOICE_MAX_INPUT_CHARS).")
    text_uri: str | None = Field(
        None, description="Instead of text: an s3://bucket/key (file:// with local storage) UTF-8 text object."
    )
    voice: str = Field("alloy", description="Voice id, name or OpenAI voice name.")
    emotion: str | None = Field(None, description="Emotion or free-text style prompt.")
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: Literal["auto", "zh", "en"] = "auto"
    format: AudioFormat = "mp3"

    @model_validator(mode="after")
    def _one_text(self) -> SynthesisRequested:
        if (self.text is None) == (self.text_uri is None):
            raise ValueError("give exactly one of 'text' and 'text_uri'")
        return self


class RequestRef(BaseModel):
    source: str
    id: str


class SynthesisCompleted(BaseModel):
    """Data of ``dev.emotivoice.synthesis.completed``."""

    request: RequestRef
    uri: str = Field(..., description="s3://bucket/key (or file:// for local storage)")
    url: str = Field(..., description="Presigned https URL, valid EMOTIVOICE_PRESIGN_EXPIRY_SECONDS")
    content_type: str
    bytes: int
    duration_seconds: float
    voice: str
    emotion: str
    emotion_fallback: bool
    checksum: str = Field(..., description="sha256 of the stored audio, hex")


class Failure(BaseModel):
    """Data of ``dev.emotivoice.synthesis.failed`` and ``dev.emotivoice.batch.failed``: permanent errors
    only (the input is wrong). Retryable trouble is never a failed event: it is a 429/5xx the broker retries."""

    request: RequestRef
    code: str
    message: str


class BatchChunk(BaseModel):
    """Data of ``dev.emotivoice.batch.chunk``: published by the function itself to fan a batch out."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    chunk: int = Field(..., ge=0)


class BatchProgress(BaseModel):
    """Data of ``dev.emotivoice.batch.progress`` and ``dev.emotivoice.batch.completed``."""

    request: RequestRef
    batch: BatchStatus
    items: list[ItemStatus] = Field(default_factory=list, description="Items finished by this event's work.")


SCHEMAS: dict[str, type[BaseModel]] = {
    SYNTHESIS_REQUESTED: SynthesisRequested,
    BATCH_REQUESTED: BatchSpec,
    BATCH_CHUNK: BatchChunk,
    SYNTHESIS_COMPLETED: SynthesisCompleted,
    SYNTHESIS_FAILED: Failure,
    BATCH_PROGRESS: BatchProgress,
    BATCH_COMPLETED: BatchProgress,
    BATCH_FAILED: Failure,
}

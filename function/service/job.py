"""A started synthesis job: what every consumer (HTTP stream, whole file, storage render, CLI) reads.

:meth:`SynthesisService.open` returns a Job only once the first sentence's audio exists, so every failure
up to the first audio (overload, queue timeout, unknown voice, nothing speakable) was already raised with
its kind. After that a consumer reads raw chunks, encoded bytes as they come (streaming) or one whole
file; the worker slot is freed when the chunks run out or the job is closed, whichever comes first.

Owns: chunk iteration, encoding, response metadata of one job. Must not import interfaces
(``function.http``, ``function.events``, ``function.cli``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from function.audio.encoding import CONTENT_TYPES, make_encoder
from function.engines.base import AudioChunk, Engine, Style, SynthesisRequest, Voice

log = logging.getLogger(__name__)


@dataclass
class JobStats:
    """What one job cost; filled by the worker as the job runs."""

    queue_seconds: float = 0.0
    compute_seconds: float = 0.0
    audio_seconds: float = 0.0
    first_audio_seconds: float | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Job:
    engine: Engine
    voice: Voice
    style: Style
    request: SynthesisRequest
    stats: JobStats
    sample_rate: int  # the rate of the encoded output (the request's, adjusted to what the format carries)
    _first: AudioChunk
    _rest: AsyncIterator[AudioChunk]

    @property
    def media_type(self) -> str:
        return CONTENT_TYPES[self.request.format]

    def headers(self) -> dict[str, str]:
        """Response headers saying what was really used, e.g. that an unknown prompt fell back to neutral.
        Header values are ASCII: the prompt itself is not echoed."""
        return {
            "X-Engine": self.engine.name,
            "X-Voice": self.voice.id,
            "X-Emotion": self.style.emotion,
            "X-Emotion-Fallback": "true" if self.style.fallback else "false",
            "X-Sample-Rate": str(self.sample_rate),
        }

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        """The engine's chunks (one per sentence), the first included; the slot is freed at the end."""
        try:
            yield self._first
            async for chunk in self._rest:
                yield chunk
        finally:
            await self.aclose()

    async def encoded(self) -> AsyncIterator[bytes]:
        """Encoded bytes of one streamed container as they are produced; encoding runs off the event loop.
        A failure mid-stream is logged and re-raised (the response is committed: the connection ends)."""
        try:
            encoder = make_encoder(self.request.format, self.engine.sample_rate, self.sample_rate, streaming=True)
        except BaseException:
            await self.aclose()  # never leave the slot taken
            raise
        try:
            async for chunk in self.chunks():
                data = await asyncio.to_thread(encoder.encode, chunk.pcm)
                if data:
                    yield data
            tail = await asyncio.to_thread(encoder.finish)
            if tail:
                yield tail
        except Exception:
            log.exception("synthesis failed mid-stream; closing the response early")
            raise

    async def whole(self) -> tuple[bytes, list[AudioChunk]]:
        """One whole file (exact sizes in its header), plus the chunks themselves (durations, timings)."""
        try:
            encoder = make_encoder(self.request.format, self.engine.sample_rate, self.sample_rate, streaming=False)
        except BaseException:
            await self.aclose()  # never leave the slot taken
            raise
        parts: list[bytes] = []
        seen: list[AudioChunk] = []
        async for chunk in self.chunks():
            seen.append(chunk)
            parts.append(await asyncio.to_thread(encoder.encode, chunk.pcm))
        parts.append(await asyncio.to_thread(encoder.finish))
        return b"".join(parts), seen

    async def aclose(self) -> None:
        """Stop the job and free its slot (idempotent)."""
        await self._rest.aclose()  # type: ignore[attr-defined]

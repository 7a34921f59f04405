"""Turns a job's audio chunks into response bodies: whole files, streamed containers, or SSE events.

The first chunk is awaited before any response is started, so every failure up to the first audio
(overload, queue timeout, unknown voice, nothing speakable) still gets a proper status code. After that
the response is committed; a failure mid-stream ends the connection early and is logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from function.audio.encoding import Encoder
from function.engines.base import AudioChunk, InvalidTextError, SynthesisRequest
from function.service.render import encode_whole
from function.service.synthesis import Ticket

log = logging.getLogger(__name__)


@dataclass
class StartedJob:
    first: AudioChunk
    rest: AsyncIterator[AudioChunk]


async def start(ticket: Ticket, request: SynthesisRequest) -> StartedJob:
    stream = ticket.stream(request)
    try:
        first = await stream.__anext__()
    except StopAsyncIteration:
        raise InvalidTextError("The input produced no audio.", param="input") from None
    except BaseException:
        await stream.aclose()  # type: ignore[attr-defined]
        raise
    return StartedJob(first, stream)


async def _chunks(job: StartedJob) -> AsyncIterator[AudioChunk]:
    yield job.first
    async for chunk in job.rest:
        yield chunk


async def encoded(job: StartedJob, encoder: Encoder) -> AsyncIterator[bytes]:
    """Encoded bytes as they are produced; encoding runs off the event loop."""
    try:
        async for chunk in _chunks(job):
            data = await asyncio.to_thread(encoder.encode, chunk.pcm)
            if data:
                yield data
        tail = await asyncio.to_thread(encoder.finish)
        if tail:
            yield tail
    except Exception:
        log.exception("synthesis failed mid-stream; closing the response early")
        raise
    finally:
        await job.rest.aclose()  # type: ignore[attr-defined]


async def collect(job: StartedJob, encoder: Encoder) -> tuple[bytes, list[AudioChunk]]:
    """The whole file, plus the chunks (for durations and timings)."""
    try:
        return await encode_whole(_chunks(job), encoder)
    finally:
        await job.rest.aclose()  # type: ignore[attr-defined]


async def sse(job: StartedJob, encoder: Encoder, input_chars: int) -> AsyncIterator[bytes]:
    """OpenAI's speech SSE: ``speech.audio.delta`` events carrying base64 audio, then ``speech.audio.done``.
    The deltas concatenated form one valid file of the requested format."""
    audio_bytes = 0
    async for data in encoded(job, encoder):
        audio_bytes += len(data)
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
        yield f"data: {json.dumps(event)}\n\n".encode()
    usage = {"input_tokens": input_chars, "output_tokens": audio_bytes, "total_tokens": input_chars + audio_bytes}
    yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n".encode()

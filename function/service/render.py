"""Synthesise into storage, exactly once per output key.

Events and batch items do not stream to a caller: they synthesise a whole file and store it under a key
derived from what was asked (and, for events, from the event's identity), so a redelivered event finds
its result instead of redoing it. Within a process, concurrent duplicates wait for the first (single
flight); across processes, the create-only write (S3 If-None-Match) lets exactly one upload win and the
others return the winner's object.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from function.audio.encoding import CONTENT_TYPES, AudioFormat, Encoder, make_encoder
from function.engines.base import AudioChunk, SynthesisRequest
from function.service.synthesis import SynthesisService, Ticket
from function.storage import AlreadyExists, Storage, StoredObject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderSpec:
    text: str
    voice: str
    prompt: str = ""
    speed: float = 1.0
    language: str = "auto"
    format: AudioFormat = "mp3"

    def content_hash(self) -> str:
        """Identity of the audio asked for: same spec, same hash, whichever pod computes it."""
        canonical = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RenderResult:
    object: StoredObject
    url: str
    duration_seconds: float
    voice: str
    emotion: str
    emotion_fallback: bool
    checksum: str  # sha256 of the stored bytes
    reused: bool  # True: an earlier delivery had already produced it


def _result(obj: StoredObject, url: str, reused: bool) -> RenderResult:
    m = obj.metadata
    return RenderResult(obj, url, float(m.get("duration-seconds", "0")), m.get("voice", ""), m.get("emotion", ""),
                        m.get("emotion-fallback", "false") == "true", m.get("sha256", ""), reused)


class Renderer:
    def __init__(self, synthesis: SynthesisService, storage: Storage, presign_expiry_seconds: int) -> None:
        self._synthesis = synthesis
        self._storage = storage
        self._expiry = presign_expiry_seconds
        self._inflight: dict[str, asyncio.Future[RenderResult]] = {}

    @property
    def storage(self) -> Storage:
        return self._storage

    async def existing(self, key: str) -> RenderResult | None:
        obj = await asyncio.to_thread(self._storage.head, key)
        if obj is None:
            return None
        return _result(obj, await asyncio.to_thread(self._storage.presign, key, self._expiry), True)

    async def render(self, spec: RenderSpec, key: str, extra_metadata: dict[str, str] | None = None, *,
                     queue_wait_seconds: float | None = None) -> RenderResult:
        """Return the stored result for ``key``, synthesising it only if no one has yet.

        ``queue_wait_seconds=None`` takes a worker slot or fails fast (Overloaded); a number waits that
        long for one (batch items queue behind interactive traffic instead of failing).
        """
        running = self._inflight.get(key)
        if running is not None:
            result = await asyncio.shield(running)
            return dataclasses.replace(result, reused=True)
        future: asyncio.Future[RenderResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._render_once(spec, key, extra_metadata or {}, queue_wait_seconds)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: duplicates re-raise it, nobody else must log it
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(key, None)

    async def _render_once(self, spec: RenderSpec, key: str, extra: dict[str, str],
                           queue_wait_seconds: float | None) -> RenderResult:
        found = await self.existing(key)
        if found is not None:
            return found
        ticket = (self._synthesis.admit() if queue_wait_seconds is None
                  else await self._synthesis.admit_waiting(queue_wait_seconds))
        try:
            engine = await self._synthesis.ready_engine()
            voice = engine.resolve_voice(spec.voice)
            style = engine.resolve_style(spec.prompt)
            data, seconds = await self._synthesise(ticket, spec, engine.sample_rate)
        finally:
            ticket.release()
        checksum = hashlib.sha256(data).hexdigest()
        metadata = {
            "voice": voice.id,
            "emotion": style.emotion,
            "emotion-fallback": "true" if style.fallback else "false",
            "text-sha256": hashlib.sha256(spec.text.encode()).hexdigest(),
            "duration-seconds": f"{seconds:.3f}",
            "sha256": checksum,
            "engine": engine.name,
            **extra,
        }
        try:
            obj = await asyncio.to_thread(self._storage.put, key, data, CONTENT_TYPES[spec.format], metadata,
                                          if_absent=True)
        except AlreadyExists:
            log.info("another delivery stored this result first", extra={"key": key})
            winner = await self.existing(key)
            if winner is not None:
                return winner
            raise
        url = await asyncio.to_thread(self._storage.presign, key, self._expiry)
        return RenderResult(obj, url, round(seconds, 3), voice.id, style.emotion, style.fallback, checksum, False)

    async def _synthesise(self, ticket: Ticket, spec: RenderSpec, in_rate: int) -> tuple[bytes, float]:
        request = SynthesisRequest(spec.text, spec.voice, spec.prompt, spec.speed, spec.language)  # type: ignore[arg-type]
        data, chunks = await encode_whole(ticket.stream(request), make_encoder(spec.format, in_rate, streaming=False))
        return data, sum(c.duration_seconds for c in chunks)


async def encode_whole(chunks: AsyncIterator[AudioChunk], encoder: Encoder) -> tuple[bytes, list[AudioChunk]]:
    """A whole file from a job's chunks (encoding off the event loop), plus the chunks themselves."""
    parts: list[bytes] = []
    seen: list[AudioChunk] = []
    async for chunk in chunks:
        seen.append(chunk)
        parts.append(await asyncio.to_thread(encoder.encode, chunk.pcm))
    parts.append(await asyncio.to_thread(encoder.finish))
    return b"".join(parts), seen

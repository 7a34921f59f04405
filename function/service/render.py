"""Synthesise into storage, exactly once per output key.

Events and batch items do not stream to a caller: they synthesise a whole file and store it under a key
derived from what was asked (and, for events, from the event's identity), so a redelivered event finds
its result instead of redoing it. Within a process, concurrent duplicates wait for the first (single
flight); across processes, the create-only write (S3 If-None-Match) lets exactly one upload win and the
others return the winner's object.

Rendering is a consumer of the one pipeline (:meth:`SynthesisService.open`), not a second one. Owns:
result objects, their metadata and presigned URLs. Must not import interfaces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from dataclasses import dataclass

from function.audio.encoding import CONTENT_TYPES
from function.engines.base import SynthesisRequest
from function.errors import Kind, ServiceError
from function.service.synthesis import SynthesisService
from function.storage import AlreadyExists, ObjectNotFound, Storage, StoredObject

log = logging.getLogger(__name__)


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

    async def presign(self, key: str) -> str:
        """A download URL valid for the configured lifetime (EMOTIVOICE_PRESIGN_EXPIRY_SECONDS)."""
        return await asyncio.to_thread(self._storage.presign, key, self._expiry)

    async def existing(self, key: str) -> RenderResult | None:
        obj = await asyncio.to_thread(self._storage.head, key)
        if obj is None:
            return None
        return _result(obj, await self.presign(key), True)

    async def read_text(self, uri: str, param: str) -> str:
        """A UTF-8 text input referenced by URI (``text_uri``)."""
        try:
            raw = await asyncio.to_thread(self._storage.read_reference, uri)
        except ObjectNotFound as exc:
            raise ServiceError(Kind.NOT_FOUND, "input_not_found", str(exc), param=param) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError(Kind.INVALID, "invalid_text", f"{param} is not UTF-8 text.", param=param) from None

    async def render_event(self, source: str, event_id: str, request: SynthesisRequest,
                           text_uri: str | None = None) -> RenderResult:
        """The result of one event's request (its text inline or at ``text_uri``), stored under a key
        derived from the event's identity and the request, so a redelivery finds it.

        CloudEvents identify an event by (source, id): the same pair with different content is a
        producer's bug, answered with the permanent ``event_id_conflict`` rather than another event's
        result. A small marker object per event records what it asked for.
        """
        if text_uri is not None:
            request = dataclasses.replace(request, text=await self.read_text(text_uri, "text_uri"))
        identity = hashlib.sha256(f"{source}|{event_id}".encode()).hexdigest()[:20]
        content = request.content_hash()
        marker = self._storage.key(f"event-ids/{identity}.json")
        await self._check_event(marker, content)
        key = self._storage.key(f"events/{identity}-{content[:12]}.{request.format}")
        result = await self.render(request, key, {"event-source": source[:200], "event-id": event_id[:200]})
        await self._claim_event(marker, content)  # after the result: a failed render leaves nothing behind
        return result

    async def _check_event(self, marker: str, content: str) -> None:
        found = await asyncio.to_thread(self._storage.head, marker)
        if found is not None and found.metadata.get("content-sha256", content) != content:
            raise ServiceError(Kind.CONFLICT, "event_id_conflict",
                               "This event's source and id were used before for a different request; give each "
                               "request its own id.")

    async def _claim_event(self, marker: str, content: str) -> None:
        try:
            await asyncio.to_thread(self._storage.put, marker, b"{}", "application/json", {"content-sha256": content},
                                    if_absent=True)
        except AlreadyExists:
            await self._check_event(marker, content)  # a concurrent delivery claimed it: same content or conflict

    async def render(self, request: SynthesisRequest, key: str, extra_metadata: dict[str, str] | None = None, *,
                     wait_for_slot: float | None = None) -> RenderResult:
        """Return the stored result for ``key``, synthesising it only if no one has yet.

        ``wait_for_slot`` as in :meth:`SynthesisService.open`: None fails fast when the pod is full, a
        number of seconds queues that long (batch items).
        """
        running = self._inflight.get(key)
        if running is not None:
            result = await asyncio.shield(running)
            return dataclasses.replace(result, reused=True)
        future: asyncio.Future[RenderResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._render_once(request, key, extra_metadata or {}, wait_for_slot)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: duplicates re-raise it, nobody else must log it
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(key, None)

    async def _render_once(self, request: SynthesisRequest, key: str, extra: dict[str, str],
                           wait_for_slot: float | None) -> RenderResult:
        found = await self.existing(key)
        if found is not None:
            return found
        job = await self._synthesis.open(request, wait_for_slot=wait_for_slot)
        data, chunks = await job.whole()
        seconds = sum(c.duration_seconds for c in chunks)
        checksum = hashlib.sha256(data).hexdigest()
        metadata = {
            "voice": job.voice.id,
            "emotion": job.style.emotion,
            "emotion-fallback": "true" if job.style.fallback else "false",
            "text-sha256": hashlib.sha256(request.text.encode()).hexdigest(),
            "duration-seconds": f"{seconds:.3f}",
            "sha256": checksum,
            "engine": job.engine.name,
            **extra,
        }
        try:
            obj = await asyncio.to_thread(self._storage.put, key, data, CONTENT_TYPES[request.format], metadata,
                                          if_absent=True)
        except AlreadyExists:
            log.info("another delivery stored this result first", extra={"key": key})
            winner = await self.existing(key)
            if winner is not None:
                return winner
            raise
        url = await self.presign(key)
        return RenderResult(obj, url, round(seconds, 3), job.voice.id, job.style.emotion, job.style.fallback,
                            checksum, False)

"""Custom voices by voice matching (issue 16): create one from a reference clip, store it where every pod
sees it, list, delete, and resolve its id into a ``VoiceMix`` of built-in voices before an engine runs.

Matching, not cloning: the clip is embedded with a pretrained speaker encoder and compared with the
embeddings of the engine's built-in voices (its voice index); the k nearest become a weighted mix. An
engine that can blend speakers (``supports_mix``, EmotiVoice) synthesises the mix; one that cannot
(espeak) speaks the heaviest part, and the voice it reports is that built-in voice, not the custom id.

Storage (``function.storage``, so S3 makes a voice visible to every pod at once):

    voices/<owner8>/<id>.json           the voice: name, matches, reference hash + embedding, versions
    voices/<owner8>/<id>.<format>       the clip itself, only when the caller asked to keep it

``id = "cv-" + owner8 + clip16``: ``owner8`` is the first 8 hex digits of sha256(subject), ``clip16`` of
sha256(clip bytes). So the same clip from the same caller is the same voice (found before any decoding),
an id leads straight to its key (one GET per use: a deletion is seen by every pod at once), and listing a
caller's voices is one LIST. The record is written last and create-only, so a failed creation leaves no
voice behind (a kept clip written before it is removed again).

Index: built at first use for engines with few voices (espeak: ~3 s) and cached on disk; engines with many
(EmotiVoice: 2,000+ speakers) need it built ahead by ``emotivoice-fn voice-index``. An index is keyed by
engine, model and encoder, so a voice made against another model is re-matched from its stored embedding.

Owns custom voice records. Imports engines (base, matching), storage, settings and errors; must not import
interfaces (``function.http``, ``function.events``, ``function.edge``, ``function.cli``) or the synthesis
pipeline (which calls in through ``SynthesisService.voice_resolver``). The matching package (numpy, soxr,
the speaker encoder) is imported where a voice is made, matched or resolved, not at start: a server whose
first request names a built-in voice never loads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from function.audio.decode import decode_clip
from function.engines.base import Engine, SynthesisRequest, UnknownVoiceError, Voice, VoiceMix
from function.errors import Kind, ServiceError, shown
from function.storage import AlreadyExists, ObjectNotFound, Storage

if TYPE_CHECKING:
    import numpy as np

    from function.engines.matching.encoder import SpeakerEncoder
    from function.engines.matching.index import VoiceIndex
    from function.engines.matching.match import Match
    from function.settings import Settings

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^cv-[0-9a-f]{24}$")
MIN_SPEECH_SECONDS = 3.0
MAX_SPEECH_SECONDS = 30.0
MAX_CLIP_SECONDS = 60.0  # whole clip, silences included: decoding stops here
SILENT_DBFS = -60.0  # a clip whose whole level is below this holds nothing to match
MAX_NAME_CHARS = 64
BUILD_ON_FIRST_USE_MAX_VOICES = 64  # more built-in voices than this: the index must be built ahead
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}

EngineGetter = Callable[[], Awaitable[Engine]]


def _err(kind: Kind, code: str, message: str, param: str | None = None) -> ServiceError:
    return ServiceError(kind, code, message, param=param)


def owner_hash(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()


@dataclass(frozen=True)
class CustomVoice:
    """A stored custom voice (the JSON record, parsed)."""

    id: str
    name: str
    created_at: int
    owner: str  # sha256 of the subject that created it
    engine: str
    engine_version: str
    model_id: str
    encoder_version: str
    index_key: str
    index_subset: bool
    matches: tuple[Match, ...]
    embedding: tuple[float, ...]
    reference: dict[str, Any]
    consent: str | None = None
    created_ns: int = 0  # creation time in ns: orders a caller's voices made within one second

    @property
    def mix(self) -> VoiceMix:
        return VoiceMix(parts=tuple((m.voice, m.weight) for m in self.matches))

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["matches"] = [dataclasses.asdict(m) for m in self.matches]
        record["embedding"] = list(self.embedding)
        return {"object": "audio.voice", "type": "audio_sample", **record}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CustomVoice:
        from function.engines.matching.match import Match

        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["matches"] = tuple(Match(**m) for m in data["matches"])
        values["embedding"] = tuple(float(x) for x in data["embedding"])
        return cls(**values)


@dataclass(frozen=True)
class Created:
    voice: CustomVoice
    reused: bool  # the same clip from the same caller was already a voice


class CustomVoices:
    """Everything about custom voices a pod does; one per Runtime."""

    def __init__(self, settings: Settings, storage: Storage, engine: EngineGetter) -> None:
        self._storage = storage
        self._engine = engine
        self._encoder_setting = settings.voice_encoder
        self._index_dirs = [d for d in (settings.snapshot, settings.voice_index_dir or _default_index_dir()) if d]
        self._home = settings.home
        self.max_clip_bytes = settings.voice_max_clip_bytes
        self.max_per_subject = settings.voice_max_per_subject
        self.top_k = settings.voice_match_top_k
        self._index_lock = threading.Lock()
        self._indexes: dict[str, VoiceIndex] = {}  # index key -> index
        self._rematched: dict[tuple[str, str], tuple[Match, ...]] = {}  # (voice id, index key) -> matches
        self._model_ids: dict[int, str] = {}  # id(engine) -> model id (an engine lives as long as the process)
        self._encoder_version: str | None = None
        self._work = asyncio.Semaphore(1)  # one clip decoded and embedded at a time per pod

    # --- ids and keys -----------------------------------------------------------------------------
    @staticmethod
    def handles(voice: str) -> bool:
        """Whether ``voice`` names a custom voice (so the synthesis pipeline asks us, not the engine)."""
        return bool(ID_PATTERN.match(voice.strip().lower()))

    def _record_key(self, voice_id: str) -> str:
        return self._storage.key(f"voices/{voice_id[3:11]}/{voice_id}.json")

    def _owner_prefix(self, subject: str) -> str:
        return self._storage.key(f"voices/{owner_hash(subject)[:8]}/")

    @property
    def _encoder_path(self) -> Path:
        from function.engines.matching.encoder import DEFAULT_MODEL_PATH

        return self._encoder_setting or DEFAULT_MODEL_PATH

    # --- versions -----------------------------------------------------------------------------------
    def encoder_version(self) -> str | None:
        """The encoder's version without loading it (from the export's sidecar); None when absent."""
        if self._encoder_version is not None:
            return self._encoder_version
        from function.engines.matching.encoder import sidecar_path

        try:
            info = json.loads(sidecar_path(self._encoder_path).read_text())
        except (OSError, ValueError):
            return None
        weights = info.get("weights_sha256")
        if isinstance(weights, str):
            self._encoder_version = f"resemblyzer-{weights[:12]}"
        return self._encoder_version

    def model_id(self, engine: Engine) -> str:
        cached = self._model_ids.get(id(engine))
        if cached is None:
            cached = self._model_ids[id(engine)] = model_id(engine, self._home)
        return cached

    def current_key(self, engine: Engine, encoder_version: str) -> str:
        from function.engines.matching.index import index_key

        return index_key(engine.name, str(getattr(engine, "version", "unknown")), self.model_id(engine),
                         encoder_version)

    # --- encoder and index ------------------------------------------------------------------------
    def encoder(self) -> SpeakerEncoder:
        from function.engines.matching.encoder import shared_encoder

        return shared_encoder(self._encoder_path)

    def index_path(self, engine: Engine, encoder_version: str) -> Path | None:
        """Where this engine's current index is, if anywhere."""
        from function.engines.matching.index import index_file_name

        name = index_file_name(engine.name, self.current_key(engine, encoder_version))
        return next((d / name for d in self._index_dirs if (d / name).is_file()), None)

    def index(self, engine: Engine) -> VoiceIndex:
        """The engine's index: in memory, else from disk, else built now (few voices only). Blocking."""
        from function.engines.matching.index import IndexUnusable, VoiceIndex

        encoder = self.encoder()
        key = self.current_key(engine, encoder.version)
        with self._index_lock:
            found = self._indexes.get(key)
            if found is not None:
                return found
            path = self.index_path(engine, encoder.version)
            if path is not None:
                try:
                    found = VoiceIndex.load(path)
                except IndexUnusable as exc:
                    log.warning("voice index unusable; rebuilding if allowed", extra={"error": str(exc)})
            if found is None:
                found = self._build(engine, encoder)
            self._indexes[key] = found
            return found

    def _build(self, engine: Engine, encoder: SpeakerEncoder) -> VoiceIndex:
        from function.engines.matching.index import build_index

        count = len(engine.voices())
        if count > BUILD_ON_FIRST_USE_MAX_VOICES:
            raise _err(Kind.UNAVAILABLE, "voice_index_missing",
                       f"No voice index for this {engine.name} model ({count} voices) was built ahead; run "
                       "`emotivoice-fn voice-index` (with a snapshot: writes it into the snapshot directory).")
        started = time.perf_counter()
        index = build_index(engine, encoder, model_id=self.model_id(engine))
        try:
            path = index.save(self._index_dirs[-1])
        except OSError as exc:  # a read-only home directory: keep it in memory only
            log.warning("voice index not cached on disk", extra={"error": str(exc)})
            path = None
        log.info("voice index built", extra={"engine": engine.name, "voices": count, "path": str(path),
                                             "seconds": round(time.perf_counter() - started, 2)})
        return index

    # --- creating -----------------------------------------------------------------------------------
    async def create(self, subject: str, name: str, *, data: bytes | None = None, uri: str | None = None,
                     keep_reference: bool = False, consent: str | None = None) -> Created:
        """A voice from a clip given inline (``data``) or by ``uri`` (inside our bucket); see the module doc."""
        name = _check_name(name)
        if (data is None) == (uri is None):
            raise _err(Kind.INVALID, "missing_audio", "Send the reference clip as the multipart file 'audio_sample' "
                       "(or 'file'), or give 'audio_uri' (s3:// inside this service's bucket); exactly one.",
                       param="audio_sample")
        if data is None:
            data = await asyncio.to_thread(self._storage.read_reference, uri or "")
        if len(data) > self.max_clip_bytes:
            raise _err(Kind.TOO_LARGE, "audio_too_large",
                       f"The reference clip has {len(data)} bytes; the limit is {self.max_clip_bytes} "
                       "(EMOTIVOICE_VOICE_MAX_CLIP_BYTES).", param="audio_sample")
        owner = owner_hash(subject)
        clip_sha = hashlib.sha256(data).hexdigest()
        voice_id = f"cv-{owner[:8]}{clip_sha[:16]}"
        existing = await self._get(voice_id)
        if existing is not None:
            if existing.owner != owner:  # two callers whose hashes share 8 hex digits, with the same clip
                raise _collision(voice_id)
            return Created(existing, reused=True)
        mine = await self.list(subject)
        if any(v.name.casefold() == name.casefold() for v in mine):
            raise _err(Kind.CONFLICT, "voice_name_taken",
                       f"You already have a custom voice named {shown(name)}; choose another name or delete it.",
                       param="name")
        if len(mine) >= self.max_per_subject:
            raise _err(Kind.CONFLICT, "voice_limit_reached",
                       f"You have {len(mine)} custom voices, the most one caller may keep "
                       "(EMOTIVOICE_VOICE_MAX_PER_SUBJECT); delete one first.")
        engine = await self._engine()
        async with self._work:
            voice = await asyncio.to_thread(self._match, engine, voice_id, name, owner, data, clip_sha, consent)
        return await self._store(voice, data if keep_reference else None)

    def _match(self, engine: Engine, voice_id: str, name: str, owner: str, data: bytes, clip_sha: str,
               consent: str | None) -> CustomVoice:
        """Decode, check 3-30 s of speech, embed, match. Blocking (runs on a thread)."""
        from function.engines.matching.frontend import dbfs, prepare
        from function.engines.matching.match import nearest

        clip = decode_clip(data, max_seconds=MAX_CLIP_SECONDS)
        level = dbfs(clip.pcm)
        trimmed = prepare(clip.pcm, clip.sample_rate)
        if level < SILENT_DBFS or trimmed.voiced_windows == 0 or not len(trimmed.wav):
            raise _err(Kind.UNPROCESSABLE, "audio_silent",
                       f"The reference clip is silent (level {level:.0f} dBFS): nothing to match.", "audio_sample")
        if trimmed.seconds < MIN_SPEECH_SECONDS:
            raise _err(Kind.UNPROCESSABLE, "audio_too_short",
                       f"The reference holds {trimmed.seconds:.1f} s of speech after trimming silence; at least "
                       f"{MIN_SPEECH_SECONDS:g} s are needed.", "audio_sample")
        if trimmed.seconds > MAX_SPEECH_SECONDS:
            raise _err(Kind.UNPROCESSABLE, "audio_too_long",
                       f"The reference holds {trimmed.seconds:.1f} s of speech after trimming silence; at most "
                       f"{MAX_SPEECH_SECONDS:g} s are used. Send a shorter clip.", "audio_sample")
        encoder = self.encoder()
        now = time.time()
        embedding = encoder.embed(trimmed.wav)
        index = self.index(engine)
        matches = nearest(index, embedding, self.top_k)
        return CustomVoice(
            id=voice_id, name=name, created_at=int(now), created_ns=int(now * 1e9), owner=owner, engine=index.engine,
            engine_version=index.engine_version, model_id=index.model_id, encoder_version=index.encoder_version,
            index_key=index.key, index_subset=bool(index.meta.get("subset", False)), matches=tuple(matches),
            embedding=tuple(round(float(x), 6) for x in embedding),
            reference={"sha256": clip_sha, "bytes": len(data), "format": clip.format, "sample_rate": clip.sample_rate,
                       "channels": clip.channels, "seconds": round(clip.seconds, 3),
                       "speech_seconds": round(trimmed.seconds, 3), "uri": None},
            consent=consent)

    async def _store(self, voice: CustomVoice, clip: bytes | None) -> Created:
        """The clip (if kept) first, the record last and create-only: no half-made voice is ever listed."""
        clip_key = None
        if clip is not None:
            fmt = str(voice.reference["format"])
            clip_key = self._record_key(voice.id)[: -len(".json")] + f".{fmt}"
            stored = await asyncio.to_thread(self._storage.put, clip_key, clip, _CONTENT_TYPES[fmt],
                                             {"voice-id": voice.id})
            voice = dataclasses.replace(voice, reference={**voice.reference, "uri": stored.uri})
        body = json.dumps(voice.to_json(), ensure_ascii=False).encode()
        try:
            await asyncio.to_thread(self._storage.put, self._record_key(voice.id), body, "application/json",
                                    {"voice-id": voice.id}, if_absent=True)
        except AlreadyExists:  # the same clip, created at the same moment elsewhere: that one is the voice
            winner = await self._get(voice.id)
            if winner is not None and winner.owner != voice.owner:
                raise _collision(voice.id) from None
            if winner is not None:
                return Created(winner, reused=True)
            raise
        except BaseException:
            if clip_key is not None:
                await _quietly(self._storage.delete, clip_key)
            raise
        return Created(voice, reused=False)

    # --- reading, listing, deleting -----------------------------------------------------------------
    async def _get(self, voice_id: str) -> CustomVoice | None:
        try:
            raw = await asyncio.to_thread(self._storage.get, self._record_key(voice_id))
        except ObjectNotFound:
            return None
        return CustomVoice.from_json(json.loads(raw))

    async def list(self, subject: str) -> list[CustomVoice]:
        """The caller's voices, oldest first."""
        owner = owner_hash(subject)
        keys = await asyncio.to_thread(self._storage.list, self._owner_prefix(subject))
        voices = []
        for key in keys:
            if not key.endswith(".json"):
                continue
            found = await self._get(key.rsplit("/", 1)[-1][: -len(".json")])
            if found is not None and found.owner == owner:
                voices.append(found)
        return sorted(voices, key=lambda v: (v.created_ns, v.id))

    async def delete(self, subject: str, voice_id: str) -> None:
        """Remove the caller's voice (and its kept clip); someone else's or an unknown one: 404."""
        voice_id = voice_id.strip().lower()
        found = await self._get(voice_id) if self.handles(voice_id) else None
        if found is None or found.owner != owner_hash(subject):
            raise _err(Kind.NOT_FOUND, "voice_not_found", f"You have no custom voice {shown(voice_id)}.",
                       param="voice_id")
        await asyncio.to_thread(self._storage.delete, self._record_key(voice_id))
        if found.reference.get("uri"):
            await _quietly(self._storage.delete, self._record_key(voice_id)[: -len(".json")]
                           + f".{found.reference['format']}")

    # --- resolving for synthesis --------------------------------------------------------------------
    async def resolve(self, engine: Engine, request: SynthesisRequest) -> tuple[SynthesisRequest, Voice]:
        """The request with its custom voice resolved into ``mix`` (and, for an engine that cannot blend,
        ``voice`` set to the heaviest built-in voice), and the Voice to report."""
        voice_id = request.voice.strip().lower()
        found = await self._get(voice_id)
        if found is None:
            raise UnknownVoiceError(f"Unknown voice {shown(request.voice)}: no such custom voice (it may have been "
                                    "deleted). GET /v1/audio/voices lists yours.", param="voice")
        matches = await self._matches_for(engine, found)
        mix = VoiceMix(parts=tuple((m.voice, m.weight) for m in matches))
        heaviest = engine.resolve_voice(mix.heaviest)
        shares = ", ".join(f"{v} {w:.0%}" for v, w in mix.parts)
        if getattr(engine, "supports_mix", False):
            voice = Voice(id=found.id, name=found.name, gender=heaviest.gender, language=heaviest.language,
                          description=f"custom voice (voice matching): a blend of {shares}")
            return dataclasses.replace(request, voice=found.id, mix=mix), voice
        voice = dataclasses.replace(
            heaviest, description=f"nearest built-in voice of custom voice {found.id} ({found.name}): engine "
            f"'{engine.name}' cannot blend voices, so {heaviest.id} speaks (match: {shares})")
        return dataclasses.replace(request, voice=heaviest.id, mix=mix), voice

    async def _matches_for(self, engine: Engine, voice: CustomVoice) -> tuple[Match, ...]:
        """The voice's stored match when it was made against this engine's current index, else a
        re-match of its stored embedding against the current index (cached per process)."""
        encoder_version = self.encoder_version()
        if voice.engine == engine.name and encoder_version is not None and \
                voice.index_key == self.current_key(engine, encoder_version):
            return voice.matches
        if encoder_version is not None and voice.encoder_version != encoder_version:
            raise _err(Kind.CONFLICT, "voice_outdated",
                       f"Custom voice {voice.id} was made with another speaker encoder; create it again from its clip.",
                       param="voice")
        key = (voice.id, self.current_key(engine, encoder_version or voice.encoder_version))
        cached = self._rematched.get(key)
        if cached is None:
            import numpy as np

            from function.engines.matching.match import nearest

            index = await asyncio.to_thread(self.index, engine)
            cached = self._rematched[key] = tuple(nearest(index, np.array(voice.embedding, np.float32), self.top_k))
        return cached


def model_id(engine: Engine, home: Path | None) -> str:
    """What an engine's voices sound like depends on: its weights (a snapshot's checkpoint hashes, or a
    home's checkpoint files by name, size and time), else (espeak) its voice table."""
    manifest = getattr(engine, "manifest", None)
    basis: object
    if isinstance(manifest, dict) and isinstance(manifest.get("source"), dict) and \
            manifest["source"].get("checkpoints_sha256"):
        basis = manifest["source"]["checkpoints_sha256"]
    elif engine.name == "emotivoice" and home is not None and (home / "outputs").is_dir():
        basis = sorted((str(p.relative_to(home)), p.stat().st_size, p.stat().st_mtime_ns)
                       for p in (home / "outputs").rglob("*") if p.is_file())
    else:
        basis = [(v.id, v.name, v.description, v.language) for v in engine.voices()]
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_voice_index(settings: Settings, engine: Engine, *, voice_ids: Sequence[str] | None = None,
                      out: Path | None = None, jobs: int = 1,
                      progress: Callable[[int, int, str], None] | None = None) -> tuple[VoiceIndex, Path]:
    """Build an engine's index ahead of time (``emotivoice-fn voice-index``) and write it where serving
    looks: ``out``, else the snapshot directory, else EMOTIVOICE_VOICE_INDEX_DIR (or its default).

    ``jobs > 1`` splits the voices over that many processes, each loading its own engine (the work is
    synthesis of the probe sentences, ~all of the time, and voices are independent)."""
    from function.engines.matching.encoder import DEFAULT_MODEL_PATH, shared_encoder
    from function.engines.matching.index import build_index

    encoder = shared_encoder(settings.voice_encoder or DEFAULT_MODEL_PATH)
    model = model_id(engine, settings.home)
    if jobs <= 1:
        index = build_index(engine, encoder, model_id=model, voice_ids=voice_ids, progress=progress)
    else:
        index = _build_in_processes(settings, engine, encoder, model, voice_ids, jobs, progress)
    directory = out or settings.snapshot or settings.voice_index_dir or _default_index_dir()
    return index, index.save(directory)


def _build_in_processes(settings: Settings, engine: Engine, encoder: SpeakerEncoder, model: str,
                        voice_ids: Sequence[str] | None, jobs: int,
                        progress: Callable[[int, int, str], None] | None) -> VoiceIndex:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import numpy as np

    from function.engines.matching.index import VoiceIndex

    started = time.perf_counter()
    total = len(engine.voices())
    ids = [engine.resolve_voice(v).id for v in voice_ids] if voice_ids is not None else [v.id for v in engine.voices()]
    ids = list(dict.fromkeys(ids))
    batches = [ids[i : i + 8] for i in range(0, len(ids), 8)]  # small batches: even load, steady progress
    rows: dict[str, np.ndarray] = {}
    context = multiprocessing.get_context("spawn")  # torch and onnxruntime do not survive fork well
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init,
                             initargs=(settings,)) as pool:
        for future in as_completed([pool.submit(_worker_embed, batch) for batch in batches]):
            for voice, row in future.result():
                rows[voice] = row
                if progress is not None:
                    progress(len(rows), len(ids), voice)
    return VoiceIndex(engine=engine.name, engine_version=str(getattr(engine, "version", "unknown")), model_id=model,
                      encoder_version=encoder.version, ids=tuple(ids), embeddings=np.stack([rows[i] for i in ids]),
                      meta={"built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "build_seconds": round(time.perf_counter() - started, 2),
                            "subset": len(ids) < total, "voices_total": total, "jobs": jobs})


_worker: dict[str, Any] = {}


def _worker_init(settings: Settings) -> None:
    from function.engines.matching.encoder import DEFAULT_MODEL_PATH, shared_encoder
    from function.engines.registry import load_engine

    _worker["engine"], _ = load_engine(settings)
    _worker["encoder"] = shared_encoder(settings.voice_encoder or DEFAULT_MODEL_PATH)


def _worker_embed(voice_ids: list[str]) -> list[tuple[str, np.ndarray]]:
    from function.engines.matching.index import embed_voice

    engine: Engine = _worker["engine"]
    return [(v, embed_voice(engine, _worker["encoder"], engine.resolve_voice(v))) for v in voice_ids]


def _collision(voice_id: str) -> ServiceError:
    return _err(Kind.CONFLICT, "voice_conflict",
                f"Voice id {voice_id} is taken by another caller (a hash collision); change the clip slightly.")


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS or _CONTROL.search(name):
        raise _err(Kind.INVALID, "invalid_name",
                   f"'name' must be 1-{MAX_NAME_CHARS} characters without control characters.", param="name")
    return name


def _default_index_dir() -> Path:
    return Path.home() / ".cache" / "emotivoice-serverless"


async def _quietly(fn: Callable[[str], None], key: str) -> None:
    """Best-effort clean-up: a failure is logged, never raised over the error being handled."""
    try:
        await asyncio.to_thread(fn, key)
    except Exception as exc:  # noqa: BLE001
        log.warning("clean-up of a stored object failed", extra={"key": key, "error": str(exc)})

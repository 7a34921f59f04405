"""The voice index of one engine: an embedding per built-in voice, from fixed probe sentences that voice
speaks, and the file that keeps it.

Why probes: the speaker encoder compares voices by how they sound, so each built-in voice is embedded from
its own audio (three sentences in its language, averaged as resemblyzer's ``embed_speaker`` does). A
reference clip is then compared with these rows.

Versioning: an index is only valid for the engine, model and encoder it was built with, and the probe
set. Those four make its ``key``, which is in its file name (``voice-index-<engine>-<key>.npz``): a pod
running other weights or another encoder never reads a stale index, it looks for (or builds) its own.

File: one ``.npz`` (``ids``: voice ids; ``embeddings``: float32 (n, 256); ``meta``: JSON), written to a
temporary name and renamed, read with ``allow_pickle=False``.

Imports ``function.engines.base`` (the Engine protocol: it synthesises through it, never a concrete
engine), the matching package and numpy.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from function.engines.base import Engine, SynthesisRequest, Voice
from function.engines.matching.encoder import EMBEDDING_SIZE, SpeakerEncoder
from function.engines.matching.frontend import prepare

# Fixed probe sentences per language. Changing them changes every index key (PROBES_VERSION).
PROBES: dict[str, tuple[str, ...]] = {
    "zh": ("今天的天气很好，我们一起去公园散步吧。",
           "请把桌子上的那本书递给我，谢谢你。",
           "这个城市的夜景非常漂亮，灯光像星星一样。"),
    "en": ("The quick brown fox jumps over the lazy dog near the river bank.",
           "Please call Stella and ask her to bring these things with her from the store.",
           "We will meet at the station at nine o'clock tomorrow morning."),
}
PROBES_VERSION = "probes-1"
INDEX_FORMAT = 1


def probes_for(voice: Voice) -> tuple[str, ...]:
    return PROBES.get(voice.language[:2], PROBES["en"])


def index_key(engine: str, engine_version: str, model_id: str, encoder_version: str) -> str:
    identity = json.dumps([INDEX_FORMAT, engine, engine_version, model_id, encoder_version, PROBES_VERSION])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def index_file_name(engine: str, key: str) -> str:
    return f"voice-index-{engine}-{key}.npz"


class IndexUnusable(Exception):
    """An index file that cannot be used (damaged, another format); callers rebuild or report it."""


@dataclass(frozen=True)
class VoiceIndex:
    engine: str
    engine_version: str
    model_id: str
    encoder_version: str
    ids: tuple[str, ...]
    embeddings: np.ndarray  # (len(ids), 256), unit rows
    meta: dict[str, Any] = field(default_factory=dict)  # built_at, build_seconds, subset, probes

    @property
    def key(self) -> str:
        return index_key(self.engine, self.engine_version, self.model_id, self.encoder_version)

    @property
    def file_name(self) -> str:
        return index_file_name(self.engine, self.key)

    def save(self, directory: Path) -> Path:
        """Write atomically into ``directory`` (readers never see half a file); returns the path."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "format": INDEX_FORMAT, "engine": self.engine, "engine_version": self.engine_version,
                "model_id": self.model_id, "encoder_version": self.encoder_version, "probes": PROBES_VERSION,
                "key": self.key}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".voice-index-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, ids=np.array(self.ids, dtype=str), embeddings=self.embeddings.astype(np.float32),
                         meta=np.array(json.dumps(meta)))
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600: a snapshot built as root is read by a non-root pod
            path = directory / self.file_name
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path) -> VoiceIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                ids = tuple(str(i) for i in data["ids"])
                embeddings = np.asarray(data["embeddings"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnusable(f"voice index {path} cannot be read: {exc}") from exc
        if meta.get("format") != INDEX_FORMAT or embeddings.shape != (len(ids), EMBEDDING_SIZE) or not ids:
            raise IndexUnusable(f"voice index {path} has another format or a wrong shape")
        index = cls(meta["engine"], meta["engine_version"], meta["model_id"], meta["encoder_version"], ids,
                    embeddings, {k: meta[k] for k in ("built_at", "build_seconds", "subset", "voices_total", "jobs")
                                 if k in meta})
        if meta.get("key") != index.key:
            raise IndexUnusable(f"voice index {path} does not match its own key")
        return index


def probe_audio(engine: Engine, voice: Voice, text: str) -> np.ndarray:
    """The whole audio of one probe sentence spoken by ``voice`` (neutral style, normal speed)."""
    chunks = [c.pcm for c in engine.synthesize(SynthesisRequest(text=text, voice=voice.id))]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def embed_voice(engine: Engine, encoder: SpeakerEncoder, voice: Voice) -> np.ndarray:
    """A built-in voice's embedding: its probe sentences, prepared as reference clips are, averaged."""
    clips = []
    for text in probes_for(voice):
        trimmed = prepare(probe_audio(engine, voice, text), engine.sample_rate)
        if len(trimmed.wav):
            clips.append(trimmed.wav)
    if not clips:  # an engine that produced only silence (random weights can): embed what it made
        clips = [probe_audio(engine, voice, probes_for(voice)[0])]
    return encoder.embed_speaker(clips)


def build_index(engine: Engine, encoder: SpeakerEncoder, *, model_id: str, voice_ids: Sequence[str] | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> VoiceIndex:
    """Embed every built-in voice of ``engine`` (or only ``voice_ids``, a documented subset)."""
    started = time.perf_counter()
    voices = list(engine.voices())
    total = len(voices)
    if voice_ids is not None:
        wanted = [engine.resolve_voice(v) for v in voice_ids]
        voices = list({v.id: v for v in wanted}.values())
    rows = []
    for i, voice in enumerate(voices):
        rows.append(embed_voice(engine, encoder, voice))
        if progress is not None:
            progress(i + 1, len(voices), voice.id)
    return VoiceIndex(
        engine=engine.name, engine_version=str(getattr(engine, "version", "unknown")), model_id=model_id,
        encoder_version=encoder.version, ids=tuple(v.id for v in voices), embeddings=np.stack(rows),
        meta={"built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "build_seconds": round(time.perf_counter() - started, 2),
              "subset": len(voices) < total, "voices_total": total})

"""The one contract every synthesiser fulfils.

The HTTP, event and batch layers only ever see :class:`Engine`; they never import a concrete engine.
Engines yield audio sentence by sentence so callers can stream the first sentence while later ones are
still being computed.

Imports only leaves (``function.errors``); never a concrete engine, the service layer or interfaces.
numpy only for type checking: importing the contract costs no numpy (the engine that makes the arrays
imports it, on the loading thread, after the server already answers liveness).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from function.errors import DefinedError, Kind

if TYPE_CHECKING:
    import numpy as np

    from function.audio.encoding import AudioFormat

LanguageHint = Literal["auto", "zh", "en"]


class EngineError(DefinedError, code="engine_error"):
    """A failure an engine raises on purpose, in the one error model of ``function.errors``."""


class UnknownVoiceError(EngineError, code="unknown_voice", kind=Kind.INVALID):
    """The caller named a voice this engine does not have (a user's mistake: 400)."""


class InvalidTextError(EngineError, code="invalid_text", kind=Kind.INVALID):
    """The text holds nothing this engine can speak (a user's mistake: 400)."""


class EngineLoadError(EngineError, code="engine_load_failed", kind=Kind.UNAVAILABLE):
    """Configuration or files are wrong; raised at start-up so the process never turns ready."""


@dataclass(frozen=True)
class Voice:
    """A voice as listed by ``GET /v1/audio/voices``. ``id`` is stable across releases."""

    id: str
    name: str
    gender: Literal["female", "male", "unknown"]
    language: str  # BCP-47-ish primary language: "zh", "en"
    description: str = ""
    aliases: tuple[str, ...] = ()  # e.g. OpenAI voice names that resolve to this voice


@dataclass(frozen=True)
class Style:
    """How an engine understood the free-text emotion/style prompt.

    ``emotion`` is the canonical English emotion name when one was recognised (``"happy"``), else
    ``"neutral"``. ``fallback`` is True when the prompt was not understood and neutral was used instead:
    the HTTP layer tells the caller so in a response header rather than failing the request.
    """

    prompt: str
    emotion: str
    fallback: bool = False


@dataclass(frozen=True)
class VoiceMix:
    """A custom voice (issue 16, "voice matching"): built-in voice ids and weights summing to 1.

    Engines that can blend speakers (EmotiVoice: the weighted sum of the speaker-table rows replaces the
    single row) synthesise the mix; engines that cannot (espeak) use the heaviest part and say so in the
    Voice they resolve. A mix of one voice with weight 1.0 must sound exactly like that voice.
    """

    parts: tuple[tuple[str, float], ...]

    @property
    def heaviest(self) -> str:
        return max(self.parts, key=lambda p: p[1])[0]


@dataclass(frozen=True)
class SynthesisRequest:
    """What a caller asked for, from the edges inward: the same type for HTTP, events, batches and the CLI.

    Engines read the first five fields; ``format`` and ``sample_rate`` (None: the engine's own rate)
    say how the service encodes the result. ``content_hash`` is the identity of the audio asked for,
    from which storage keys derive, so a result rendered by any pod is found by any other.
    """

    text: str
    voice: str
    prompt: str = ""
    speed: float = 1.0
    language: LanguageHint = "auto"
    format: AudioFormat = "wav"
    sample_rate: int | None = None
    mix: VoiceMix | None = None  # set by the service when ``voice`` names a custom voice

    def content_hash(self) -> str:
        fields: dict[str, object] = {"text": self.text, "voice": self.voice, "prompt": self.prompt,
                                     "speed": self.speed, "language": self.language, "format": self.format}
        if self.sample_rate is not None:  # absent from older keys: the same request keeps the same key
            fields["sample_rate"] = self.sample_rate
        if self.mix is not None:
            fields["mix"] = [list(part) for part in self.mix.parts]
        canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class AudioChunk:
    """One sentence of audio: float32 mono PCM in [-1, 1] at ``sample_rate``.

    ``timings`` holds per-stage wall seconds (e.g. ``{"frontend": 0.004, "vocoder": 0.08}``) so the
    native API can report where time went.
    """

    pcm: np.ndarray
    sample_rate: int
    text: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return float(len(self.pcm)) / float(self.sample_rate)


@runtime_checkable
class Engine(Protocol):
    """A loaded synthesiser. Constructing/loading happens before the process turns ready.

    Implementations must be safe to call ``synthesize`` from several worker threads at once (the
    service layer bounds how many).
    """

    name: str
    sample_rate: int

    def voices(self) -> Sequence[Voice]: ...

    def resolve_voice(self, voice: str) -> Voice:
        """Map an id, alias (OpenAI name) or case variant to a Voice, or raise UnknownVoiceError."""
        ...

    def resolve_style(self, prompt: str) -> Style: ...

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk per sentence, in order. Must not yield empty chunks."""
        ...

    def warm_up(self) -> None:
        """Run one short synthesis so the first real request pays no lazy-initialisation cost."""
        ...

    def close(self) -> None: ...

"""The one contract every synthesiser fulfils.

The HTTP, event and batch layers only ever see :class:`Engine`; they never import a concrete engine.
Engines yield audio sentence by sentence so callers can stream the first sentence while later ones are
still being computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

LanguageHint = Literal["auto", "zh", "en"]


class EngineError(Exception):
    """Base for errors an engine raises on purpose. ``code`` is machine-readable, stable, snake_case."""

    code = "engine_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class UnknownVoiceError(EngineError):
    """The caller named a voice this engine does not have (a user's mistake: 400)."""

    code = "unknown_voice"


class InvalidTextError(EngineError):
    """The text holds nothing this engine can speak (a user's mistake: 400)."""

    code = "invalid_text"


class EngineLoadError(EngineError):
    """Configuration or files are wrong; raised at start-up so the process never turns ready."""

    code = "engine_load_failed"


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
class SynthesisRequest:
    text: str
    voice: str
    prompt: str = ""
    speed: float = 1.0
    language: LanguageHint = "auto"


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

"""The embedded default engine: espeak-ng. Small, instant to load, Chinese and English, so a fresh
machine speaks at once while EmotiVoice checkpoints are not configured.

Must not import the EmotiVoice engine, the service layer or interfaces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np

from function.audio.stretch import time_stretch
from function.engines.base import (
    AudioChunk,
    InvalidTextError,
    Style,
    SynthesisRequest,
    UnknownVoiceError,
    Voice,
)
from function.errors import shown
from function.engines.emotions import recognise
from function.engines.espeak.library import EspeakLibrary, shared_library
from function.engines.espeak.prosody import prosody_for
from function.engines.espeak.voices import VOICES, EspeakVoice
from function.engines.text import Run, has_speakable, language_runs, split_sentences

_GAP_SECONDS = 0.12  # pause between sentences; espeak trims its own trailing silence


class EspeakEngine:
    name = "espeak"
    version = "espeak-ng-1.52"

    def __init__(self, library: EspeakLibrary | None = None) -> None:
        self._lib = library or shared_library()
        self.sample_rate = self._lib.sample_rate
        self._by_key: dict[str, EspeakVoice] = {}
        for v in VOICES:
            for key in (v.voice.id, v.voice.name, *v.voice.aliases):
                self._by_key[key.lower()] = v

    def voices(self) -> Sequence[Voice]:
        return [v.voice for v in VOICES]

    def _lookup(self, voice: str) -> EspeakVoice:
        found = self._by_key.get(voice.strip().lower())
        if found is None:
            raise UnknownVoiceError(
                f"Unknown voice {shown(voice)}. GET /v1/audio/voices lists the voices of engine 'espeak'.",
                param="voice",
            )
        return found

    def resolve_voice(self, voice: str) -> Voice:
        return self._lookup(voice).voice

    def resolve_style(self, prompt: str) -> Style:
        r = recognise(prompt)
        return Style(prompt=prompt, emotion=r.emotion, fallback=not r.recognised)

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        voice = self._lookup(request.voice)
        rec = recognise(request.prompt)
        prosody, residual = prosody_for(rec.emotion, rec.intensity, request.speed, voice.pitch_offset)
        sentences = [s for s in split_sentences(request.text) if has_speakable(s)]
        if not sentences:
            raise InvalidTextError("The input has no letters, digits or Chinese characters to speak.", param="input")
        gap = np.zeros(int(_GAP_SECONDS * self.sample_rate), dtype=np.float32)
        for sentence in sentences:
            started = time.perf_counter()
            default = voice.voice.language if request.language == "auto" else request.language
            runs = language_runs(sentence, default=default)  # type: ignore[arg-type]
            if request.language != "auto":
                runs = [Run(request.language, r.text) for r in runs]
            parts = [
                self._lib.synthesize(run.text, voice.espeak_name(run.language), prosody) for run in runs
            ]
            pcm = np.concatenate(parts).astype(np.float32) / 32768.0 if parts else np.zeros(0, np.float32)
            if residual != 1.0:
                pcm = time_stretch(pcm, residual, self.sample_rate)
            if len(pcm) == 0:
                continue
            pcm = np.concatenate([pcm, gap])
            yield AudioChunk(pcm=pcm, sample_rate=self.sample_rate, text=sentence,
                             timings={"espeak": time.perf_counter() - started})

    def warm_up(self) -> None:
        for _ in self.synthesize(SynthesisRequest(text="你好, hello.", voice=VOICES[0].voice.id)):
            pass

    def close(self) -> None:
        """libespeak-ng is process-global; nothing to release per engine."""


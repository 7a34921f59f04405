from __future__ import annotations

import numpy as np
import pytest

from function.engines.base import Engine, InvalidTextError, SynthesisRequest, UnknownVoiceError
from function.engines.espeak.engine import EspeakEngine
from function.engines.espeak.voices import VOICES
from function.engines.openai_voices import OPENAI_VOICES


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine()


def test_implements_protocol(engine: EspeakEngine) -> None:
    assert isinstance(engine, Engine)


@pytest.mark.parametrize("voice", [v.voice.id for v in VOICES])
def test_every_voice_speaks_both_languages(engine: EspeakEngine, voice: str) -> None:
    chunks = list(engine.synthesize(SynthesisRequest("你好，世界。Hello world.", voice)))
    assert len(chunks) == 2
    for chunk in chunks:
        assert chunk.pcm.dtype == np.float32 and np.abs(chunk.pcm).max() <= 1.0
        assert np.sqrt(np.mean(chunk.pcm**2)) > 0.01


def test_every_openai_name_resolves(engine: EspeakEngine) -> None:
    ids = {engine.resolve_voice(name).id for name in OPENAI_VOICES}
    assert len(ids) >= 8  # names map to several distinct voices, not all to one
    assert engine.resolve_voice("ALLOY").id == engine.resolve_voice("alloy").id


def test_voice_ids_are_unique_and_stable(engine: EspeakEngine) -> None:
    ids = [v.id for v in engine.voices()]
    assert len(ids) == len(set(ids))
    assert {"zh-f2", "en-us-m1"} <= set(ids)


def test_errors(engine: EspeakEngine) -> None:
    with pytest.raises(UnknownVoiceError):
        engine.resolve_voice("nobody")
    with pytest.raises(InvalidTextError):
        list(engine.synthesize(SynthesisRequest("……", "zh-f2")))


def test_language_hint_overrides_detection(engine: EspeakEngine) -> None:
    auto = next(engine.synthesize(SynthesisRequest("hello", "zh-f2")))
    forced = next(engine.synthesize(SynthesisRequest("hello", "zh-f2", language="zh")))
    assert len(auto.pcm) != len(forced.pcm)


def median_f0(pcm: np.ndarray, rate: int) -> float:
    """Median fundamental frequency over voiced 40 ms frames, by autocorrelation (70-500 Hz)."""
    size = int(0.04 * rate)
    lo, hi = rate // 500, rate // 70
    f0s = []
    for start in range(0, len(pcm) - size, size // 2):
        frame = pcm[start:start + size] - pcm[start:start + size].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        ac = np.correlate(frame, frame, mode="full")[size - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


def test_pitch_follows_emotion(engine: EspeakEngine) -> None:
    def f0(prompt: str) -> float:
        pcm = np.concatenate([c.pcm for c in engine.synthesize(SynthesisRequest("我今天很好。", "zh-m1", prompt))])
        return median_f0(pcm, engine.sample_rate)
    neutral = f0("普通")
    assert f0("惊讶") > neutral * 1.1
    assert f0("悲伤") < neutral * 0.95

"""The engine through its protocol: voices, styles, audio shapes, determinism, speed, threads, cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from function.engines.base import Engine, InvalidTextError, SynthesisRequest, UnknownVoiceError
from function.engines.emotivoice.voices import OPENAI_DEFAULTS
from function.engines.openai_voices import OPENAI_VOICES

TEXT = "你好，世界！今天天气很好。Hello world, this is EmotiVoice. 我有3个苹果。第五句话在这里。最后一句"


def _run(engine, **kwargs) -> list:
    request = SynthesisRequest(**{"text": TEXT, "voice": "8051", **kwargs})
    return list(engine.synthesize(request))


def test_protocol_and_voices(tiny_engine) -> None:
    assert isinstance(tiny_engine, Engine)
    assert tiny_engine.name == "emotivoice" and tiny_engine.sample_rate == 16000
    voices = tiny_engine.voices()
    assert len(voices) == 2014 and voices[0].id == "8051"
    assert voices[0].name == "Maria Kasper" and voices[0].gender == "female"
    assert set(voices[0].aliases) == {"alloy"}
    aliases = {a for v in voices for a in v.aliases}
    assert aliases == set(OPENAI_VOICES)
    for name in OPENAI_VOICES:
        assert tiny_engine.resolve_voice(name).id == OPENAI_DEFAULTS[name]
        assert tiny_engine.resolve_voice(name.upper()).id == OPENAI_DEFAULTS[name]
    assert tiny_engine.resolve_voice("9017").gender == "male"
    assert tiny_engine.resolve_voice(" 92 ").id == "92"
    with pytest.raises(UnknownVoiceError) as info:
        tiny_engine.resolve_voice("nobody")
    assert info.value.param == "voice"


def test_styles(tiny_engine) -> None:
    assert tiny_engine.resolve_style("").prompt == "普通"
    assert tiny_engine.resolve_style("").emotion == "neutral"
    style = tiny_engine.resolve_style("用非常开心的语气")
    assert (style.prompt, style.emotion, style.fallback) == ("用非常开心的语气", "happy", False)
    odd = tiny_engine.resolve_style("like a pirate at dawn")
    assert odd.emotion == "neutral" and odd.fallback is False  # BERT takes any text


def test_one_chunk_per_sentence_with_clipped_float_audio(tiny_engine) -> None:
    chunks = _run(tiny_engine, prompt="开心")
    assert [c.text for c in chunks] == [
        "你好，世界！", "今天天气很好。", "Hello world, this is EmotiVoice.", "我有3个苹果。", "第五句话在这里。", "最后一句",
    ]
    for chunk in chunks:
        assert chunk.pcm.dtype == np.float32 and chunk.pcm.ndim == 1
        assert len(chunk.pcm) > 0 and len(chunk.pcm) % 256 == 0
        assert np.all(np.abs(chunk.pcm) <= 1.0)
        assert set(chunk.timings) == {"frontend", "bert", "acoustic", "vocoder"}
        assert chunk.timings["vocoder"] > 0  # the vocoder ran inside its timer (it once ran before it)
        assert chunk.sample_rate == 16000


def test_deterministic_and_batch_size_independent(tiny_engine) -> None:
    first = _run(tiny_engine, prompt="悲伤")
    second = _run(tiny_engine, prompt="悲伤")
    for a, b in zip(first, second):
        assert np.array_equal(a.pcm, b.pcm)
    saved = tiny_engine.batch_size
    try:
        tiny_engine.batch_size = 1  # every sentence alone: what upstream does
        alone = _run(tiny_engine, prompt="悲伤")
    finally:
        tiny_engine.batch_size = saved
    for a, b in zip(first, alone):
        assert a.pcm.shape == b.pcm.shape
        assert np.allclose(a.pcm, b.pcm, atol=1e-4)


def test_speaker_and_prompt_change_the_audio(tiny_engine) -> None:
    base = _run(tiny_engine, text="你好。")[0].pcm
    other_speaker = _run(tiny_engine, text="你好。", voice="9017")[0].pcm
    other_prompt = _run(tiny_engine, text="你好。", prompt="生气")[0].pcm
    assert not np.array_equal(base, other_speaker)
    assert not np.array_equal(base, other_prompt)


def test_speed_scales_durations(tiny_engine) -> None:
    normal = sum(len(c.pcm) for c in _run(tiny_engine))
    fast = sum(len(c.pcm) for c in _run(tiny_engine, speed=2.0))
    slow = sum(len(c.pcm) for c in _run(tiny_engine, speed=0.5))
    assert fast < 0.7 * normal and slow > 1.6 * normal


def test_invalid_text(tiny_engine) -> None:
    with pytest.raises(InvalidTextError):
        tiny_engine.synthesize(SynthesisRequest(text="%。…  ", voice="8051"))
    with pytest.raises(UnknownVoiceError):
        tiny_engine.synthesize(SynthesisRequest(text="你好", voice="0"))
    # a sentence with nothing speakable is skipped, the rest is spoken
    chunks = list(tiny_engine.synthesize(SynthesisRequest(text="……。你好。", voice="8051")))
    assert [c.text for c in chunks] == ["你好。"]


def test_threads_get_the_same_audio(tiny_engine) -> None:
    prompts = ["开心", "悲伤", "生气", "普通"] * 2
    expected = {p: [c.pcm for c in _run(tiny_engine, prompt=p)] for p in set(prompts)}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: (p, [c.pcm for c in _run(tiny_engine, prompt=p)]), prompts))
    for prompt, pcms in results:
        assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(pcms, expected[prompt]))


def test_cached_prompt_costs_no_bert_pass(tiny_engine) -> None:
    text = "你好。"
    _run(tiny_engine, text=text, prompt="一个从没见过的提示")
    before = tiny_engine.stats["bert_passes"]
    hits = tiny_engine.prompts.hits
    _run(tiny_engine, text=text, prompt="一个从没见过的提示")
    assert tiny_engine.stats["bert_passes"] - before == 1  # the content vector only
    assert tiny_engine.prompts.hits == hits + 1


def test_bf16_vocoder_stays_close_to_fp32(tiny_home, tiny_engine) -> None:
    from function.engines.emotivoice.engine import EmotiVoiceEngine
    from function.engines.emotivoice.loader import load_home

    bf16 = EmotiVoiceEngine(load_home(tiny_home), precision="bf16")
    request = SynthesisRequest(text="你好，世界。", voice="8051", prompt="开心")
    a = next(iter(tiny_engine.synthesize(request))).pcm
    b = next(iter(bf16.synthesize(request))).pcm
    assert b.dtype == np.float32 and a.shape == b.shape
    assert np.corrcoef(a, b)[0, 1] > 0.95

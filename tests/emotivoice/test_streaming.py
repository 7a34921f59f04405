"""Chunked vocoding for streaming (issue 13): first chunk small, later larger, equal to whole-sentence audio."""

from __future__ import annotations

import numpy as np

from function.engines.base import SynthesisRequest
from function.engines.emotivoice.engine import FIRST_CHUNK_FRAMES, MAX_CHUNK_FRAMES, EmotiVoiceEngine

TEXT = "今天天气真好，我们一起去公园散步，然后再去图书馆看书吧。Second sentence here."


def test_chunk_bounds_grow_from_small_to_the_cap_and_cover_everything() -> None:
    bounds = EmotiVoiceEngine.chunk_bounds(1000)
    sizes = [e - s for s, e in bounds]
    assert bounds[0] == (0, FIRST_CHUNK_FRAMES) and bounds[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert sizes[:3] == [FIRST_CHUNK_FRAMES, 2 * FIRST_CHUNK_FRAMES, 4 * FIRST_CHUNK_FRAMES]
    assert max(sizes) == MAX_CHUNK_FRAMES
    assert EmotiVoiceEngine.chunk_bounds(5) == [(0, 5)] and EmotiVoiceEngine.chunk_bounds(0) == []


def test_streamed_chunks_equal_whole_sentence_audio(tiny_engine) -> None:
    request = SynthesisRequest(text=TEXT, voice="8051", prompt="开心", speed=0.5)  # slow: many frames
    whole = list(tiny_engine.synthesize(request))
    streamed = list(tiny_engine.synthesize_streaming(request))
    assert len(streamed) > len(whole)
    for sentence in whole:
        pieces = [c for c in streamed if c.text == sentence.text]
        joined = np.concatenate([c.pcm for c in pieces])
        assert joined.shape == sentence.pcm.shape
        assert float(np.abs(joined - sentence.pcm).max()) <= 1e-4
        if len(sentence.pcm) > FIRST_CHUNK_FRAMES * tiny_engine.hop:
            assert len(pieces[0].pcm) == FIRST_CHUNK_FRAMES * tiny_engine.hop
            assert len(pieces) > 1 and "acoustic" in pieces[0].timings and "acoustic" not in pieces[1].timings

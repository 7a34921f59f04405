"""Chunked vocoding for streaming (issue 13): first chunk small, later larger, equal to whole-sentence audio."""

from __future__ import annotations

import numpy as np

from function.engines.base import SynthesisRequest
from function.engines.emotivoice.engine import (FIRST_CHUNK_FRAMES, FRAMES_PER_CUT, MAX_CHUNK_FRAMES,
                                                VOCODER_CONTEXT_FRAMES, EmotiVoiceEngine)

TEXT = "今天天气真好，我们一起去公园散步，然后再去图书馆看书吧。Second sentence here."


def test_chunk_bounds_grow_from_small_to_the_cap_and_cover_everything() -> None:
    bounds = EmotiVoiceEngine.chunk_bounds(2000)
    sizes = [e - s for s, e in bounds]
    assert bounds[0] == (0, FIRST_CHUNK_FRAMES) and bounds[-1][1] == 2000
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert sizes[:3] == [FIRST_CHUNK_FRAMES, 2 * FIRST_CHUNK_FRAMES, 4 * FIRST_CHUNK_FRAMES]
    assert max(sizes[:-1]) == MAX_CHUNK_FRAMES
    assert EmotiVoiceEngine.chunk_bounds(5) == [(0, 5)] and EmotiVoiceEngine.chunk_bounds(0) == []


def test_cuts_are_budgeted_so_context_costs_at_most_a_quarter() -> None:
    """A short sentence comes whole; otherwise one cut per FRAMES_PER_CUT frames, the last piece taking
    the rest: re-vocoded context (2 x 16 frames per cut) stays within 20% of the sentence."""
    assert EmotiVoiceEngine.chunk_bounds(FRAMES_PER_CUT - 1) == [(0, FRAMES_PER_CUT - 1)]
    assert EmotiVoiceEngine.chunk_bounds(200) == [(0, FIRST_CHUNK_FRAMES), (FIRST_CHUNK_FRAMES, 200)]
    for total in range(1, 3000, 7):
        bounds = EmotiVoiceEngine.chunk_bounds(total)
        assert bounds[-1][1] == total and bounds[0][0] == 0
        assert (len(bounds) - 1) * 2 * VOCODER_CONTEXT_FRAMES <= 0.2 * total


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
        if len(sentence.pcm) >= FRAMES_PER_CUT * tiny_engine.hop:
            assert len(pieces[0].pcm) == FIRST_CHUNK_FRAMES * tiny_engine.hop
            assert len(pieces) > 1 and "acoustic" in pieces[0].timings and "acoustic" not in pieces[1].timings

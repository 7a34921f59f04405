"""Speaker mixing on the eager engine (issue 16's custom voices): the weighted blend of speaker-table rows."""

from __future__ import annotations

import numpy as np
import pytest

from function.engines.base import SynthesisRequest, UnknownVoiceError, VoiceMix


def test_speaker_vector_is_the_table_row(tiny_engine) -> None:
    voice, index = tiny_engine.table.resolve("8051")
    assert np.array_equal(tiny_engine.speaker_vector(index), tiny_engine.networks.speaker_embeddings[index])


def test_bad_mixes_are_refused(tiny_engine) -> None:
    for mix in (VoiceMix(()), VoiceMix((("8051", 0.0),)), VoiceMix((("8051", -1.0), ("alloy", 2.0)))):
        with pytest.raises(UnknownVoiceError):
            list(tiny_engine.synthesize(SynthesisRequest(text="你好。", voice="custom", mix=mix)))
    with pytest.raises(UnknownVoiceError):
        tiny_engine.mix_vector(VoiceMix((("no-such-voice", 1.0),)))


def test_weights_are_normalised(tiny_engine) -> None:
    a = tiny_engine.mix_vector(VoiceMix((("8051", 1.0), ("alloy", 3.0))))
    b = tiny_engine.mix_vector(VoiceMix((("8051", 0.25), ("alloy", 0.75))))
    assert np.allclose(a, b, atol=1e-7)

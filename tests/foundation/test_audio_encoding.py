from __future__ import annotations

import struct

import numpy as np
import pytest

from function.audio.encoding import FORMATS, make_encoder, wav_header
from function.audio.stretch import time_stretch
from tests.audio_check import decode

RATE = 22_050
TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streaming", [True, False])
def test_encoders_round_trip_with_resampling(fmt: str, streaming: bool) -> None:
    enc = make_encoder(fmt, RATE, 24_000, streaming=streaming)  # type: ignore[arg-type]
    data = enc.encode(TONE) + enc.encode(TONE) + enc.finish()
    out = decode(data, fmt)
    assert abs(out.duration - 2.0) < 0.1
    assert 0.15 < out.rms < 0.25  # a 0.3-amplitude sine has RMS 0.21


def test_streaming_wav_yields_header_first_and_unknown_size() -> None:
    enc = make_encoder("wav", 16_000, streaming=True)
    first = enc.encode(np.zeros(160, np.float32))
    assert first[:4] == b"RIFF" and struct.unpack("<I", first[4:8])[0] == 0xFFFFFFFF
    assert len(first) == 44 + 320
    assert enc.encode(np.zeros(160, np.float32))[:4] != b"RIFF"


def test_whole_wav_has_exact_sizes() -> None:
    assert struct.unpack("<I", wav_header(16_000, 1000)[40:44])[0] == 1000


def test_opus_picks_a_supported_rate() -> None:
    enc = make_encoder("opus", RATE, 22_050, streaming=False)
    assert enc.sample_rate == 24_000


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.6])
def test_time_stretch_changes_length_not_pitch(rate: float) -> None:
    out = time_stretch(TONE, rate, RATE)
    assert abs(len(out) / RATE - 1.0 / rate) < 0.05
    spectrum = np.abs(np.fft.rfft(out[2000:-2000]))
    peak_hz = np.argmax(spectrum) * RATE / len(out[2000:-2000])
    assert abs(peak_hz - 220) < 5

"""Decode any of our output formats back to PCM, to check responses are real, audible audio."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np


@dataclass
class Decoded:
    pcm: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.pcm)))) if len(self.pcm) else 0.0


def decode(data: bytes, fmt: str, pcm_rate: int = 24_000) -> Decoded:
    if fmt == "pcm":
        return Decoded(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, pcm_rate)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().astype(np.float32).reshape(-1) for f in container.decode(stream)]
        rate = stream.sample_rate or stream.codec_context.sample_rate
        fmt_name = stream.codec_context.format.name if stream.codec_context.format else "flt"
    pcm = np.concatenate(frames) if frames else np.zeros(0, np.float32)
    if fmt_name.startswith("s16"):
        pcm = pcm / 32768.0
    elif fmt_name.startswith("s32"):
        pcm = pcm / 2147483648.0
    return Decoded(pcm, int(rate))

"""Incremental audio encoders: float32 PCM in, bytes of ONE valid container out, chunk by chunk.

Streaming must produce a single file, not a chain of files: WAV gets one header with the 0xFFFFFFFF
"unknown size" convention, MP3/AAC are one continuous frame stream, Ogg Opus one logical stream whose last
page is flushed by ``finish()``. The same encoder serves whole (non-streamed) responses, where WAV then
gets its exact sizes.

A leaf: imports nothing of ours. Its third-party modules are imported by the first encoder that needs
them, not with this module (which the routes import at start): numpy by the first encoded chunk, PyAV by
the first compressed format, soxr by the first rate other than the engine's. A first WAV or PCM request
at the engine's rate loads neither PyAV nor soxr.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import av
    import numpy as np
    import soxr

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
FORMATS: tuple[AudioFormat, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")

CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# PyAV muxer and encoder per compressed format.
_CODECS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}
# Rates each encoder accepts; the encoder resamples to the nearest one at or above the input.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# MPEG-1/2/2.5 rates: the only ones MP3 frames can carry; ADTS AAC's table (above 48 kHz excluded).
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_FORMAT_RATES: dict[str, tuple[int, ...]] = {"opus": _OPUS_RATES, "mp3": _MP3_RATES, "aac": _AAC_RATES}
_STREAMING_SIZE = 0xFFFFFFFF


def _to_int16(pcm: np.ndarray) -> bytes:
    import numpy as np

    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte PCM16 mono WAV header; ``data_bytes=None`` writes the streaming size 0xFFFFFFFF."""
    data_size = _STREAMING_SIZE if data_bytes is None else data_bytes
    riff_size = _STREAMING_SIZE if data_bytes is None else 36 + data_bytes
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16
    ) + b"data" + struct.pack("<I", data_size)


class Encoder(Protocol):
    sample_rate: int

    def encode(self, pcm: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


class _Sink:
    """A write-only file for PyAV: it cannot seek, so muxers write their streaming variant."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class _RawEncoder:
    def __init__(self, fmt: Literal["wav", "pcm"], sample_rate: int, streaming: bool) -> None:
        self.sample_rate = sample_rate
        self._fmt = fmt
        self._streaming = streaming
        self._started = False
        self._buffer: list[bytes] = []

    def encode(self, pcm: np.ndarray) -> bytes:
        data = _to_int16(pcm)
        if not self._streaming:
            self._buffer.append(data)
            return b""
        if self._fmt == "wav" and not self._started:
            self._started = True
            return wav_header(self.sample_rate, None) + data
        return data

    def finish(self) -> bytes:
        if self._streaming:
            if self._fmt == "wav" and not self._started:
                self._started = True
                return wav_header(self.sample_rate, None)
            return b""
        data = b"".join(self._buffer)
        self._buffer = []
        return (wav_header(self.sample_rate, len(data)) if self._fmt == "wav" else b"") + data


class _AvEncoder:
    def __init__(self, fmt: str, sample_rate: int) -> None:
        if fmt == "opus" and sample_rate not in _OPUS_RATES:
            raise ValueError(f"opus needs one of {_OPUS_RATES} Hz, got {sample_rate}")
        import av

        self._frame_type = av.AudioFrame
        self.sample_rate = sample_rate
        muxer, codec = _CODECS[fmt]
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=muxer)
        self._stream = self._container.add_stream(codec, rate=sample_rate, layout="mono")
        ctx = self._stream.codec_context
        if fmt in ("mp3", "aac"):
            ctx.bit_rate = 64_000 if sample_rate <= 24_000 else 128_000
        elif fmt == "opus":
            ctx.bit_rate = 32_000
        ctx.open()
        self._resampler = av.AudioResampler(
            format=ctx.format.name, layout="mono", rate=sample_rate, frame_size=ctx.frame_size or None
        )
        self._pts = 0

    def _mux(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def encode(self, pcm: np.ndarray) -> bytes:
        import numpy as np

        if len(pcm) == 0:
            return b""
        frame = self._frame_type.from_ndarray(
            np.ascontiguousarray(np.clip(pcm, -1.0, 1.0), dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += len(pcm)
        self._mux(self._resampler.resample(frame))
        return self._sink.drain()

    def finish(self) -> bytes:
        self._mux(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.drain()


class ResamplingEncoder:
    """Wraps an encoder so the caller can feed PCM at the engine's rate whatever the output rate."""

    def __init__(self, inner: Encoder, in_rate: int) -> None:
        self.sample_rate = inner.sample_rate
        self._inner = inner
        self._resampler: soxr.ResampleStream | None = None
        if in_rate != inner.sample_rate:
            from soxr import ResampleStream

            self._resampler = ResampleStream(in_rate, inner.sample_rate, 1, dtype="float32", quality="HQ")

    def encode(self, pcm: np.ndarray) -> bytes:
        import numpy as np

        if self._resampler is not None:
            pcm = self._resampler.resample_chunk(np.asarray(pcm, dtype=np.float32))
        return self._inner.encode(pcm)

    def finish(self) -> bytes:
        import numpy as np

        tail = b""
        if self._resampler is not None:
            tail = self._inner.encode(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return tail + self._inner.finish()


def output_rate(fmt: AudioFormat, requested: int) -> int:
    """The rate a format will really carry for a requested rate: Opus knows five rates, MP3 and AAC
    nine; any other request gets the nearest one at or above it (the X-Sample-Rate header says which)."""
    rates = _FORMAT_RATES.get(fmt)
    if rates is not None and requested not in rates:
        return next((r for r in rates if r >= requested), rates[-1])
    return requested


def make_encoder(fmt: AudioFormat, in_rate: int, out_rate: int | None = None, *, streaming: bool) -> Encoder:
    """An encoder fed at ``in_rate`` producing ``fmt`` at ``out_rate`` (default: ``in_rate``)."""
    rate = output_rate(fmt, out_rate or in_rate)
    inner: Encoder = _RawEncoder(fmt, rate, streaming) if fmt in ("wav", "pcm") else _AvEncoder(fmt, rate)  # type: ignore[arg-type]
    return ResamplingEncoder(inner, in_rate) if rate != in_rate else inner

"""Decoding an uploaded reference clip: WAV, FLAC, MP3 or Ogg (Vorbis/Opus), recognised by its bytes,
never by a file name or a client's content type.

Order of checks, cheapest first, so a hostile file costs little: the container is sniffed from its first
bytes (``not_audio``); the decoder's header gives rate and channels, refused before any sample is decoded
(``unsupported_audio``); decoding stops once ``max_seconds`` of audio are out (``audio_too_long``), so a
small file of a very compressible format cannot expand into gigabytes. Anything the decoders reject is
``corrupt_audio``. The byte size cap is the caller's (it must hold before the bytes are even read).

soundfile (libsndfile) decodes first; PyAV (FFmpeg) is the fallback for files libsndfile refuses (MP3s
with odd tags, Opus variants). A leaf: imports ``function.errors`` only. numpy, soundfile and PyAV are
imported by the first clip decoded, not at start.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from function.errors import Kind, ServiceError

if TYPE_CHECKING:
    import numpy as np

ClipFormat = Literal["wav", "flac", "ogg", "mp3"]
MIN_RATE, MAX_RATE = 8_000, 96_000
MAX_CHANNELS = 2


@dataclass(frozen=True)
class DecodedClip:
    pcm: np.ndarray  # mono float32 in [-1, 1] (channels averaged)
    sample_rate: int
    channels: int  # of the file, before downmixing
    format: ClipFormat

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.sample_rate if self.sample_rate else 0.0


def not_audio() -> ServiceError:
    return ServiceError(Kind.UNSUPPORTED_MEDIA, "not_audio",
                        "The reference is not an audio file this service reads (WAV, FLAC, MP3, Ogg Vorbis/Opus).",
                        param="audio")


def corrupt_audio(fmt: str) -> ServiceError:
    return ServiceError(Kind.INVALID, "corrupt_audio",
                        f"The reference looks like {fmt.upper()} but cannot be decoded (truncated or damaged).",
                        param="audio")


def unsupported_audio(detail: str) -> ServiceError:
    return ServiceError(Kind.UNPROCESSABLE, "unsupported_audio",
                        f"The reference's {detail}; use mono or stereo audio at {MIN_RATE}-{MAX_RATE} Hz.",
                        param="audio")


def too_long(limit: float) -> ServiceError:
    return ServiceError(Kind.UNPROCESSABLE, "audio_too_long",
                        f"The reference is longer than {limit:g} s in total; send at most 30 s of speech.",
                        param="audio")


def sniff(data: bytes) -> ClipFormat | None:
    """The container from its magic bytes, or None."""
    if len(data) >= 12 and data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3":
        return "mp3"
    # An MPEG audio frame header: 11 sync bits, then layer bits != 00 (00 is ADTS AAC, not MP3).
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0 and (data[1] & 0x06) != 0:
        return "mp3"
    return None


def _check(rate: int, channels: int) -> None:
    if channels < 1 or channels > MAX_CHANNELS:
        raise unsupported_audio(f"channel count {channels} is not supported")
    if rate < MIN_RATE or rate > MAX_RATE:
        raise unsupported_audio(f"sample rate {rate} Hz is not supported")


def _mono(samples: np.ndarray) -> np.ndarray:
    import numpy as np

    pcm = samples.mean(axis=1) if samples.ndim == 2 else samples
    return np.clip(np.nan_to_num(pcm.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def _soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int, int] | None:
    """(mono pcm, rate, channels), or None when libsndfile cannot open the file."""
    import soundfile as sf

    try:
        f = sf.SoundFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - libsndfile's errors (and RuntimeError on odd headers): not ours
        return None
    with f:
        _check(f.samplerate, f.channels)
        limit = int(max_seconds * f.samplerate) + 1
        try:
            samples = f.read(frames=limit, dtype="float32", always_2d=True)
        except Exception:  # noqa: BLE001 - a body that breaks off: the fallback decides
            return None
        return _mono(samples), f.samplerate, f.channels


def _pyav(data: bytes, fmt: ClipFormat, max_seconds: float) -> tuple[np.ndarray, int, int]:
    import av
    import numpy as np

    try:
        container = av.open(io.BytesIO(data), mode="r", format={"ogg": "ogg", "mp3": "mp3", "wav": "wav",
                                                                 "flac": "flac"}[fmt])
    except Exception as exc:  # noqa: BLE001 - FFmpeg's error types
        raise corrupt_audio(fmt) from exc
    with container:
        streams = container.streams.audio
        if not streams:
            raise corrupt_audio(fmt)
        stream = streams[0]
        rate, channels = int(stream.codec_context.sample_rate or 0), int(stream.codec_context.channels or 0)
        _check(rate, channels)
        limit = int(max_seconds * rate) + 1
        parts: list[np.ndarray] = []
        have = 0
        try:
            for frame in container.decode(stream):
                raw = frame.to_ndarray()
                scale = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}.get(raw.dtype, 1.0)
                # Planar frames are (channels, samples); packed ones (1, samples * channels).
                block = raw.T if frame.format.is_planar else raw.reshape(-1, channels)
                block = block.astype(np.float32) / np.float32(scale)
                parts.append(block)
                have += len(block)
                if have >= limit:
                    break
        except Exception as exc:  # noqa: BLE001
            raise corrupt_audio(fmt) from exc
        if not parts:
            raise corrupt_audio(fmt)
        return _mono(np.concatenate(parts)[:limit]), rate, channels


def decode_clip(data: bytes, *, max_seconds: float) -> DecodedClip:
    """Sniff, check, decode at most ``max_seconds`` (more: ``audio_too_long``), downmix to mono."""
    fmt = sniff(data)
    if fmt is None:
        raise not_audio()
    decoded = _soundfile(data, max_seconds)
    if decoded is None:
        decoded = _pyav(data, fmt, max_seconds)
    pcm, rate, channels = decoded
    if len(pcm) > max_seconds * rate:
        raise too_long(max_seconds)
    if len(pcm) == 0:
        raise corrupt_audio(fmt)
    return DecodedClip(pcm, rate, channels, fmt)

"""Resemblyzer's audio preprocessing and mel front end, in numpy, so serving needs neither librosa
(whose first call spends ~15-60 s compiling numba kernels) nor torch.

What it reproduces, and how exactly:
- ``mel_frames``: librosa's ``feature.melspectrogram`` with resemblyzer's parameters (16 kHz, 25 ms Hann
  window = n_fft 400, 10 ms hop, 40 Slaney mel bands, power 2, centred frames with zero padding), as a
  power mel spectrogram (not log) of shape (frames, 40). Equal to librosa's to float32 rounding; the
  parity test checks it.
- ``partial_slices``: resemblyzer's ``compute_partial_slices`` (1.6 s windows, 1.3 per second, last
  window kept when 75 % covered), so embeddings are averaged over the same windows.
- ``normalize_volume``: the same gain rule (raise quiet clips to -30 dBFS, never lower loud ones).
- ``trim_silence`` is OUR OWN energy detector, not resemblyzer's (it uses webrtcvad, a C extension whose
  packaging needs an old setuptools): 30 ms windows, a level threshold relative to the clip's loud
  windows, then resemblyzer's smoothing and dilation, so long silences go and short pauses stay. Its
  output length is what the 3-30 s speech rule measures.

``prepare`` chains them for a decoded clip at any rate: resample to 16 kHz (soxr, the resampler librosa
uses), normalise, trim.

A leaf of the matching package: numpy and soxr only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIAL_RATE = 1.3  # partials per second
MIN_COVERAGE = 0.75
NORM_TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1

VAD_WINDOW = SAMPLE_RATE * 30 // 1000  # 30 ms, resemblyzer's vad_window_length
VAD_AVERAGE_WIDTH = 8  # resemblyzer's vad_moving_average_width
VAD_MAX_SILENCE = 6  # resemblyzer's vad_max_silence_length (windows)
SILENCE_FLOOR_DBFS = -55.0  # windows quieter than this are never speech
SPEECH_BELOW_LOUD_DB = 35.0  # ... nor windows this far below the clip's loud windows (95th percentile)


# --- mel spectrogram ---------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(40, 201) Slaney-normalised triangular filters from 0 Hz to 8 kHz, as librosa.filters.mel builds them."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_points = np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), N_MELS + 2)
    mel_f = _mel_to_hz(mel_points)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]  # Slaney: constant energy per band
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """Periodic Hann window (scipy's get_window('hann', N, fftbins=True))."""
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)).astype(np.float32)


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """Power mel spectrogram (frames, 40), float32: ``1 + len(wav) // 160`` frames, centred."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, (N_FFT // 2, N_FFT // 2), mode="constant")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    strides = (padded.strides[0] * HOP, padded.strides[0])
    frames = np.lib.stride_tricks.as_strided(padded, shape=(n_frames, N_FFT), strides=strides, writeable=False)
    spectrum = np.fft.rfft(frames * _window(), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return (power @ mel_filterbank().T).astype(np.float32)


# --- partial utterances ------------------------------------------------------------------------------


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame slices of the 1.6 s partial utterances resemblyzer averages over (at least one)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / ((last.stop - last.start) * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


def partial_mels(wav: np.ndarray) -> np.ndarray:
    """(partials, 160, 40): the windows the encoder embeds, the clip zero-padded to the last one."""
    slices = partial_slices(len(wav))
    needed = slices[-1].stop * HOP
    if needed >= len(wav):
        wav = np.pad(wav, (0, needed - len(wav)), mode="constant")
    mel = mel_frames(wav)
    return np.stack([mel[s] for s in slices]).astype(np.float32)


# --- level and silence -------------------------------------------------------------------------------


def dbfs(wav: np.ndarray) -> float:
    """RMS level in dB relative to int16 full scale (resemblyzer's convention); -inf for digital silence."""
    rms = float(np.sqrt(np.mean((np.asarray(wav, dtype=np.float64) * INT16_MAX) ** 2))) if len(wav) else 0.0
    return 20.0 * np.log10(rms / INT16_MAX) if rms > 0 else float("-inf")


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_TARGET_DBFS) -> np.ndarray:
    """Raise a quiet clip to ``target_dbfs`` (never lower a loud one), as resemblyzer does."""
    level = dbfs(wav)
    if not np.isfinite(level) or level >= target_dbfs:
        return wav
    return (wav * (10.0 ** ((target_dbfs - level) / 20.0))).astype(np.float32)


@dataclass(frozen=True)
class Trimmed:
    wav: np.ndarray  # the clip with long silences removed (what is embedded)
    voiced_windows: int  # 30 ms windows judged speech before smoothing

    @property
    def seconds(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def _moving_average(array: np.ndarray, width: int) -> np.ndarray:
    padded = np.concatenate((np.zeros((width - 1) // 2), array, np.zeros(width // 2)))
    total = np.cumsum(padded, dtype=float)
    total[width:] = total[width:] - total[:-width]
    return total[width - 1 :] / width


def trim_silence(wav: np.ndarray) -> Trimmed:
    """Drop silences longer than ~0.2 s, keep speech and the short pauses inside it.

    A 30 ms window is speech when its level is above -55 dBFS and within 35 dB of the clip's loud
    windows (95th percentile), so a constant hum or room tone far below the voice is not speech while
    the quiet ends of words are. Then resemblyzer's steps: moving average over 8 windows, rounded, and
    dilation by 6 windows on each side.
    """
    usable = len(wav) - len(wav) % VAD_WINDOW
    if usable <= 0:
        return Trimmed(np.zeros(0, np.float32), 0)
    windows = np.asarray(wav[:usable], dtype=np.float64).reshape(-1, VAD_WINDOW)
    rms = np.sqrt(np.mean((windows * INT16_MAX) ** 2, axis=1))
    level = 20.0 * np.log10(np.maximum(rms, 1e-9) / INT16_MAX)
    loud = float(np.percentile(level, 95))
    voiced = (level > SILENCE_FLOOR_DBFS) & (level > loud - SPEECH_BELOW_LOUD_DB)
    mask = np.round(_moving_average(voiced.astype(float), VAD_AVERAGE_WIDTH)).astype(bool)
    if mask.any():
        # Binary dilation by a window of VAD_MAX_SILENCE + 1 (scipy's binary_dilation, centred).
        kernel = np.ones(VAD_MAX_SILENCE + 1)
        mask = np.convolve(mask.astype(float), kernel, mode="same") > 0
    keep = np.repeat(mask, VAD_WINDOW)
    return Trimmed(np.asarray(wav[:usable], dtype=np.float32)[keep], int(voiced.sum()))


def prepare(wav: np.ndarray, sample_rate: int) -> Trimmed:
    """A mono clip at any rate -> 16 kHz, volume-normalised, long silences trimmed (ready to embed)."""
    wav = np.asarray(wav, dtype=np.float32)
    if sample_rate != SAMPLE_RATE and len(wav):
        wav = soxr.resample(wav, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return trim_silence(normalize_volume(wav))

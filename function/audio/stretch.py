"""Pitch-preserving time stretch (WSOLA) for speeds an engine cannot reach by itself.

espeak-ng will not speak slower than 80 words/minute; OpenAI's API accepts speed down to 0.25. The
remaining factor is applied here. WSOLA keeps pitch and is good enough for the factors involved (<= ~2x).

A leaf: imports nothing of ours.
"""

from __future__ import annotations

import numpy as np


def time_stretch(pcm: np.ndarray, rate: float, sample_rate: int) -> np.ndarray:
    """Return ``pcm`` played ``rate`` times as fast (rate < 1 = longer), same pitch."""
    if abs(rate - 1.0) < 1e-3 or len(pcm) == 0:
        return pcm
    frame = int(0.030 * sample_rate)  # 30 ms analysis frames
    hop_out = frame // 2
    hop_in = hop_out * rate
    tolerance = int(0.010 * sample_rate)
    window = np.hanning(frame).astype(np.float32)
    n_frames = max(1, int((len(pcm) - frame) / hop_in) + 1)
    padded = np.concatenate([pcm.astype(np.float32), np.zeros(frame + 2 * tolerance + 1, np.float32)])
    out = np.zeros(n_frames * hop_out + frame, np.float32)
    norm = np.zeros_like(out)
    prev_tail = padded[:frame]
    offset = 0
    for i in range(n_frames):
        nominal = int(i * hop_in)
        start = nominal
        if i > 0:
            lo = max(0, nominal - tolerance)
            region = padded[lo : nominal + tolerance + frame]
            # Pick the candidate whose start best continues the previous frame's natural continuation.
            corr = np.correlate(region[: len(prev_tail) + 2 * tolerance], prev_tail[:hop_out], mode="valid")
            start = lo + int(np.argmax(corr[: 2 * tolerance + 1])) if len(corr) else nominal
        seg = padded[start : start + frame]
        out[offset : offset + frame] += seg * window
        norm[offset : offset + frame] += window
        prev_tail = padded[start + hop_out : start + hop_out + frame]
        offset += hop_out
    norm[norm < 1e-3] = 1.0
    result = out / norm
    return result[: int(round(len(pcm) / rate))]

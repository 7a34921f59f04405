"""Emotion -> espeak prosody. espeak has no emotion model, so each of EmotiVoice's seven emotions is
rendered with the prosodic cues listeners associate with it: pitch level, pitch range (expressiveness),
rate and loudness. Intensity scales the deviation from neutral ("very sad" is sadder than "sad").

Must not import the service layer or interfaces.
"""

from __future__ import annotations

from function.engines.espeak.library import RATE_MAX, Prosody

NEUTRAL = Prosody(rate=175, pitch=50, range=50, volume=100)

# emotion: (rate factor, pitch, range, volume) at intensity 1.0
_TABLE: dict[str, tuple[float, int, int, int]] = {
    "neutral": (1.00, 50, 50, 100),
    "angry": (1.10, 42, 80, 150),
    "happy": (1.10, 66, 85, 115),
    "surprised": (1.05, 76, 95, 120),
    "sad": (0.80, 36, 20, 80),
    "disgusted": (0.88, 40, 40, 105),
    "fearful": (1.18, 70, 30, 90),
}


def prosody_for(emotion: str, intensity: float, speed: float, pitch_offset: int = 0) -> tuple[Prosody, float]:
    """Prosody for an emotion at a speed, and the residual speed factor espeak cannot reach itself
    (below 80 words/minute), which the engine applies with a time stretch."""
    rate_f, pitch, rng, vol = _TABLE.get(emotion, _TABLE["neutral"])

    def scale(value: float, neutral: float) -> float:
        return neutral + (value - neutral) * intensity

    rate = NEUTRAL.rate * scale(rate_f, 1.0) * speed
    residual = 1.0
    if rate < 80:
        residual = rate / 80
        rate = 80
    rate = min(rate, RATE_MAX * 2)  # beyond 450 espeak-ng uses sonic; 900 covers speed 4.0
    return (
        Prosody(
            rate=int(round(rate)),
            pitch=int(max(0, min(100, scale(pitch, 50) + pitch_offset))),
            range=int(max(0, min(100, scale(rng, 50)))),
            volume=int(max(0, min(200, scale(vol, 100)))),
        ),
        residual,
    )

"""From a reference embedding to built-in voices and blend weights.

Cosine similarity against every row of the index (rows and the reference are unit vectors, so it is a dot
product), the ``k`` most similar voices, and weights from a softmax of their similarities with a small
temperature: a voice clearly closer than the others takes (almost) all the weight, near-ties share it.
Parts under ``MIN_WEIGHT`` are dropped and the rest renormalised, so a mix never carries voices that
barely count. Weights are rounded to 4 decimals and sum to exactly 1.

Numpy only; imports the index type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from function.engines.matching.index import VoiceIndex

TEMPERATURE = 0.02  # similarity differences of 0.02 change a weight by a factor e
MIN_WEIGHT = 0.05


@dataclass(frozen=True)
class Match:
    voice: str  # built-in voice id
    similarity: float  # cosine similarity to the reference, in [-1, 1]
    weight: float  # blend weight, the weights of one match sum to 1


def nearest(index: VoiceIndex, embedding: np.ndarray, k: int) -> list[Match]:
    """The ``k`` most similar built-in voices with blend weights (heaviest first)."""
    similarities = index.embeddings @ np.asarray(embedding, dtype=np.float32)
    order = np.argsort(-similarities, kind="stable")[: max(1, k)]
    top = similarities[order].astype(np.float64)
    weights = np.exp((top - top[0]) / TEMPERATURE)
    weights /= weights.sum()
    keep = weights >= MIN_WEIGHT
    keep[0] = True
    order, top, weights = order[keep], top[keep], weights[keep] / weights[keep].sum()
    rounded = np.round(weights, 4)
    rounded[0] = round(1.0 - float(rounded[1:].sum()), 4)
    return [Match(index.ids[i], round(float(s), 4), float(w)) for i, s, w in zip(order, top, rounded)]

"""A small thread-safe LRU of style vectors keyed by prompt text, over an optional fixed table.

Prompts come from a small set (upstream's label vocabulary, a client's few favourite phrasings), so a
cached prompt costs no BERT pass. A snapshot carries the vectors of the label vocabulary computed at build
time: they are given as ``precomputed``, a read-only table consulted before the LRU and never evicted, so
a snapshot engine answers those prompts with no BERT pass at all. Two threads missing the same prompt at
once may both compute it; the result is identical and one write wins, which is cheaper than holding a
lock across a BERT pass.

Owns the cache (numpy vectors: no torch, any runtime); knows nothing of BERT (``compute`` is given) or of snapshots (``precomputed`` is given).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np


class PromptCache:
    def __init__(
        self,
        compute: Callable[[Sequence[str]], np.ndarray],
        capacity: int = 256,
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self._compute = compute
        self._capacity = capacity
        self._precomputed: Mapping[str, np.ndarray] = dict(precomputed or {})
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def precomputed(self) -> Sequence[str]:
        """The prompts of the fixed table, in its order."""
        return list(self._precomputed)

    def get_many(self, prompts: Sequence[str]) -> np.ndarray:
        """Vectors (len(prompts), dim), computing the missing ones in one batched pass."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for prompt in prompts:
                vector = self._precomputed.get(prompt)
                if vector is None:
                    vector = self._items.get(prompt)
                    if vector is not None:
                        self._items.move_to_end(prompt)
                if vector is not None:
                    found[prompt] = vector
            missing = list(dict.fromkeys(p for p in prompts if p not in found))
            self.hits += len(prompts) - sum(1 for p in prompts if p in missing)
            self.misses += len(missing)
        if missing:
            vectors = self._compute(missing)
            with self._lock:
                for prompt, vector in zip(missing, vectors):
                    found[prompt] = vector
                    self._items[prompt] = vector
                    self._items.move_to_end(prompt)
                while len(self._items) > self._capacity:
                    self._items.popitem(last=False)
        return np.stack([found[p] for p in prompts])

    def get(self, prompt: str) -> np.ndarray:
        return self.get_many([prompt])[0]

    def clear(self) -> None:
        """Forget computed vectors (the precomputed table stays: it is part of what the engine was given)."""
        with self._lock:
            self._items.clear()

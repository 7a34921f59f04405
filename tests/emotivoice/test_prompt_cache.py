"""The style-vector cache: LRU over computed prompts, and a fixed table of pre-computed ones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from function.engines.emotivoice.prompt_cache import PromptCache


class _Counting:
    """A stand-in for the BERT pass: vector i is [len(text), call number]."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[float(len(t)), float(len(self.calls))] for t in texts], dtype=np.float32)


def test_missing_prompts_are_computed_once_in_one_batch() -> None:
    compute = _Counting()
    cache = PromptCache(compute)
    first = cache.get_many(["a", "bb", "a"])
    assert compute.calls == [["a", "bb"]] and first.shape == (3, 2)
    assert np.array_equal(cache.get("bb"), first[1])
    assert compute.calls == [["a", "bb"]]
    assert (cache.hits, cache.misses) == (1, 2)


def test_lru_evicts_the_least_recently_used() -> None:
    compute = _Counting()
    cache = PromptCache(compute, capacity=2)
    cache.get("a"), cache.get("b"), cache.get("a"), cache.get("c")
    assert len(cache) == 2
    cache.get("a")
    assert compute.calls == [["a"], ["b"], ["c"]]
    cache.get("b")
    assert compute.calls[-1] == ["b"]


def test_precomputed_table_is_used_without_computing_and_survives_clear() -> None:
    compute = _Counting()
    table = {"开心": np.array([7.0, 7.0], dtype=np.float32), "sad": np.array([8.0, 8.0], dtype=np.float32)}
    cache = PromptCache(compute, capacity=1, precomputed=table)
    assert cache.precomputed == ["开心", "sad"]
    out = cache.get_many(["开心", "new", "sad"])
    assert compute.calls == [["new"]]
    assert np.array_equal(out[0], table["开心"]) and np.array_equal(out[2], table["sad"])
    cache.clear()
    for _ in range(3):  # never evicted by the LRU, never cleared
        assert np.array_equal(cache.get("sad"), table["sad"])
    assert compute.calls == [["new"]]

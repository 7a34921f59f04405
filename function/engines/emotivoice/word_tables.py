"""Read-only word tables that load in milliseconds: jieba's prefix dictionary and each word's pinyin.

Why: a snapshot used to pickle jieba's prefix dictionary (~500 k words) and pypinyin's phrase tables as
Python dicts; building those objects at start-up (unpickling, then pypinyin's own 0.4 s phrase import
and prefix-set training) was over a second of every cold start. Here each table is one file: a
``marisa_trie.Trie`` (a compact, read-only trie; lookups are C calls) holding the keys, and a flat
``uint32`` array indexed by the trie's key id holding the values (a word's count, or an offset into a
UTF-8 blob of space-separated syllables). Opening a table copies a few MB into place and creates no
per-word object; a lookup costs about a microsecond (a dict's is a quarter of that, which a sentence's
few hundred lookups never notice).

File layout: ``EVWT1`` magic (8 bytes), three little-endian uint64 lengths (trie, values, blob), then
the three parts. Owns the format and its two mappings; imports nothing of the engine (a leaf the
Chinese frontend and the build step both use).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import marisa_trie

MAGIC = b"EVWT1\0\0\0"
_HEADER = struct.Struct("<8sQQQ")
SEPARATOR = " "


class TableError(ValueError):
    """A table file that is missing, truncated or not a table."""


def _values(data: bytes) -> array:
    values = array("I")
    values.frombytes(data)
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian
        values.byteswap()
    return values


def _write(path: Path, trie: marisa_trie.Trie, values: array, blob: bytes = b"") -> None:
    if sys.byteorder != "little":  # pragma: no cover
        values = array("I", values)
        values.byteswap()
    trie_bytes, value_bytes = trie.tobytes(), values.tobytes()
    with open(path, "wb") as handle:
        handle.write(_HEADER.pack(MAGIC, len(trie_bytes), len(value_bytes), len(blob)))
        handle.write(trie_bytes)
        handle.write(value_bytes)
        handle.write(blob)


def _read(path: Path) -> tuple[marisa_trie.Trie, array, bytes]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TableError(f"word table {path} is unreadable: {exc}") from exc
    if len(data) < _HEADER.size:
        raise TableError(f"word table {path} is truncated")
    magic, n_trie, n_values, n_blob = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TableError(f"{path} is not a word table")
    start = _HEADER.size
    if len(data) != start + n_trie + n_values + n_blob or n_values % 4:
        raise TableError(f"word table {path} is truncated or damaged")
    try:
        trie = marisa_trie.Trie().frombytes(data[start:start + n_trie])
    except Exception as exc:  # noqa: BLE001 - marisa raises plain RuntimeError/ValueError on damage
        raise TableError(f"word table {path} is damaged: {exc}") from exc
    values = _values(data[start + n_trie:start + n_trie + n_values])
    return trie, values, data[start + n_trie + n_values:]


class _TrieKeys:
    """The key side both tables share: membership, iteration and size are the trie's."""

    _trie: marisa_trie.Trie

    def __contains__(self, word: object) -> bool:
        return word in self._trie

    def __iter__(self) -> Iterator[str]:
        return iter(self._trie)

    def __len__(self) -> int:
        return len(self._trie)


class FrequencyTable(_TrieKeys, Mapping[str, int]):
    """word -> count, the shape of ``jieba.Tokenizer.FREQ`` (which only calls ``get``, ``in`` and
    ``[]`` on it once ``initialized`` is set)."""

    def __init__(self, trie: marisa_trie.Trie, counts: array) -> None:
        if len(counts) != len(trie):
            raise TableError(f"{len(trie)} words but {len(counts)} counts")
        self._trie, self._counts = trie, counts

    @classmethod
    def build(cls, counts: Mapping[str, int]) -> FrequencyTable:
        trie = marisa_trie.Trie(counts.keys())
        values = array("I", bytes(4 * len(trie)))
        for word, count in counts.items():
            values[trie[word]] = int(count)
        return cls(trie, values)

    @classmethod
    def open(cls, path: Path) -> FrequencyTable:
        trie, values, _ = _read(path)
        return cls(trie, values)

    def save(self, path: Path) -> None:
        _write(path, self._trie, self._counts)

    def get(self, word: str, default: int | None = None) -> int | None:  # type: ignore[override]
        key = self._trie.get(word)
        return default if key is None else self._counts[key]

    def __getitem__(self, word: str) -> int:
        return self._counts[self._trie[word]]


class SyllableTable(_TrieKeys, Mapping[str, tuple[str, ...]]):
    """phrase or character -> its syllables (what ``pypinyin.pinyin`` returned for it at build time,
    first reading of each), with prefix queries for pypinyin's maximum matching."""

    def __init__(self, trie: marisa_trie.Trie, offsets: array, blob: bytes) -> None:
        if len(offsets) != len(trie) + 1 or (len(offsets) and offsets[-1] != len(blob)):
            raise TableError(f"{len(trie)} words but {len(offsets)} offsets over {len(blob)} bytes")
        self._trie, self._offsets, self._blob = trie, offsets, blob

    @classmethod
    def build(cls, items: Iterable[tuple[str, Iterable[str]]]) -> SyllableTable:
        """From (word, syllables) pairs; a syllable may not be empty or hold the separator."""
        table: dict[str, str] = {}
        for word, syllables in items:
            parts = list(syllables)
            if not parts or any(not s or SEPARATOR in s for s in parts):
                raise ValueError(f"syllables of {word!r} cannot be stored: {parts!r}")
            table[word] = SEPARATOR.join(parts)
        trie = marisa_trie.Trie(table.keys())
        ordered = [""] * len(trie)
        for word, joined in table.items():
            ordered[trie[word]] = joined
        encoded = [s.encode("utf-8") for s in ordered]
        offsets = array("I", [0])
        for chunk in encoded:
            offsets.append(offsets[-1] + len(chunk))
        return cls(trie, offsets, b"".join(encoded))

    @classmethod
    def open(cls, path: Path) -> SyllableTable:
        return cls(*_read(path))

    def save(self, path: Path) -> None:
        _write(path, self._trie, self._offsets, self._blob)

    def get(self, word: str, default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:  # type: ignore[override]
        key = self._trie.get(word)
        if key is None:
            return default
        return tuple(self._blob[self._offsets[key]:self._offsets[key + 1]].decode("utf-8").split(SEPARATOR))

    def has_keys_with_prefix(self, prefix: str) -> bool:
        """Whether some key starts with ``prefix`` (itself included)."""
        return self._trie.has_keys_with_prefix(prefix)

    def __getitem__(self, word: str) -> tuple[str, ...]:
        found = self.get(word)
        if found is None:
            raise KeyError(word)
        return found

"""The snapshot directory: file names, the manifest, and the checks made before loading it.

A snapshot is only valid for the exact torch it was compiled with (TorchScript archives and the
profiling/optimisation passes are version-specific), the engine code version whose arithmetic it was
verified against, and this format version. Anything else is refused with a message naming both sides.

This is the contract between the build step (``snapshot/build.py`` writes it) and the runtimes that read
it (``snapshot_runtime.py``), so it lives with the engine and the build imports it, never the reverse.
Imports neither torch nor the rest of the engine, so it is cheap to import and usable by any runtime;
must not import ``snapshot/`` (the build step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# 2: lexicon/CMUdict packed, CC-CEDICT phrases; 3: weights.pt beside code-only archives; 4: jieba's
# dictionary and every word's pinyin as word tables (``word_tables``), CC-CEDICT phrases in their own file
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
ACOUSTIC = "acoustic.ts"
BERT = "bert.ts"
VOCODER = "vocoder.ts"
FRONTEND = "frontend.pkl"
PROMPTS = "prompts.pkl"
WEIGHTS = "weights.pt"  # every archive's tensors, memory-mapped at load ("<archive>:<dotted name>" keys)
# Frontend tables read at start without building a Python object per word (``word_tables``): jieba's
# prefix dictionary, and the pinyin of every pypinyin phrase and character (from which the frontend
# computes any word's pinyin as pypinyin would). PHRASES (CC-CEDICT, pickled) is read only when a word
# holds a character the pinyin table lacks and pypinyin has to be loaded.
WORDS = "jieba.words"
SYLLABLES = "pinyin.words"
PHRASES = "phrases.pkl"
ARCHIVES = (ACOUSTIC, BERT, VOCODER)
FRONTEND_FILES = (FRONTEND, PROMPTS, WORDS, SYLLABLES, PHRASES)
FILES = (*ARCHIVES, WEIGHTS, *FRONTEND_FILES)
# The ONNX graphs (issue 13), written beside the archives when the build exports them; the manifest's
# "onnx" section lists them with their external-data files. SPEAKERS is the acoustic model's speaker
# embedding table (n_speaker, hidden) float32, looked up and blended on numpy outside the graph.
ONNX_ACOUSTIC = "acoustic.onnx"
ONNX_BERT = "bert.onnx"
ONNX_VOCODER = "vocoder.onnx"
GRAPHS = (ONNX_BERT, ONNX_ACOUSTIC, ONNX_VOCODER)
SPEAKERS = "speakers.npy"
ONNX_FILES = (*GRAPHS, *(f"{graph}.data" for graph in GRAPHS), SPEAKERS)


class SnapshotError(Exception):
    """A snapshot that cannot be used: missing, damaged, or built for another version."""


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.is_dir():
        raise SnapshotError(f"snapshot directory {directory} does not exist")
    path = directory / MANIFEST
    if not path.is_file():
        raise SnapshotError(f"{directory} is not a snapshot: {MANIFEST} is missing (build one with `emotivoice-fn snapshot`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"snapshot manifest {path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict):
        raise SnapshotError(f"snapshot manifest {path} is not a JSON object")
    return manifest


def check_compatible(manifest: dict[str, Any], *, torch_version: str, engine_version: str | None) -> None:
    """Refuse a snapshot from another format, torch or engine version, naming both versions
    (``engine_version=None``: that check is left for later)."""
    built = manifest.get("format_version")
    if built != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format version {built} does not match this runtime's format version {FORMAT_VERSION}: "
            "rebuild the snapshot with `emotivoice-fn snapshot`"
        )
    built_torch = manifest.get("torch_version")
    if built_torch != torch_version:
        raise SnapshotError(
            f"snapshot was built with torch {built_torch} but this runtime has torch {torch_version}: "
            "rebuild the snapshot with the runtime's torch"
        )
    built_engine = manifest.get("engine_version")
    if engine_version is not None and built_engine != engine_version:
        raise SnapshotError(
            f"snapshot was built for engine version {built_engine} but this runtime's engine is {engine_version}: "
            "rebuild the snapshot"
        )


def check_files(directory: Path, manifest: dict[str, Any], *, hashes: bool = False) -> None:
    """Every file the manifest lists is present with its recorded size (a cheap truncation check on the
    start-up path); with ``hashes`` also its sha256 (slow: used at build time and by ``--verify``)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(name in files for name in FILES):
        raise SnapshotError(f"snapshot manifest in {directory} lacks the file list")
    for name in FILES:
        path = Path(directory) / name
        expected = files[name]
        if not path.is_file():
            raise SnapshotError(f"snapshot file {path} is missing")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise SnapshotError(
                f"snapshot file {path} is truncated or damaged: {size} bytes, manifest says {expected.get('bytes')}"
            )
        if hashes and sha256_file(path) != expected.get("sha256"):
            raise SnapshotError(f"snapshot file {path} is damaged: sha256 differs from the manifest")


def pack_phones(table: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
    """A word -> phones table as two newline-joined strings (words; space-joined phones), which load
    several times faster than a pickled dict of tuples."""
    words = list(table)
    if any("\n" in w for w in words) or any("\n" in p or " " in p for v in table.values() for p in v):
        raise ValueError("cannot pack a table with newlines or spaces inside words or phones")
    return "\n".join(words), "\n".join(" ".join(table[w]) for w in words)


class PhoneTable(Mapping[str, tuple[str, ...]]):
    """Read-only word -> phones mapping over :func:`pack_phones` output; phones are split on access."""

    def __init__(self, packed: tuple[str, str]) -> None:
        words, phones = packed
        self._data = dict(zip(words.split("\n"), phones.split("\n"))) if words else {}

    def __getitem__(self, word: str) -> tuple[str, ...]:
        return tuple(self._data[word].split())

    def get(self, word: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self._data.get(word)
        return default if value is None else tuple(value.split())

    def __contains__(self, word: object) -> bool:
        return word in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

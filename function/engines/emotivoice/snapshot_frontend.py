"""A snapshot's non-network content: the frontend tables and the pre-computed prompt vectors.

Reading them and handing them to the frontend is the same for every runtime (the TorchScript one in
``snapshot_runtime.py``, or another that runs the networks differently), and needs no torch: pickles of
plain Python and numpy data, and the frontend modules' own hooks (``chinese.initialise`` with the stored
jieba prefix dictionary and CC-CEDICT phrases, ``english.use_cmu_dictionary``). The build step writes
these files (``snapshot/build.py``); this module must not import it, nor torch. The big word tables are
not pickles but ``word_tables`` files (no Python object per word is built at start-up).
"""

from __future__ import annotations

import functools
import logging
import pickle
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from function.engines.base import EngineLoadError
from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.word_tables import FrequencyTable, SyllableTable, TableError

log = logging.getLogger(__name__)


def load_pickle(path: Path) -> Any:
    """Unpickle one snapshot file; any damage becomes an :class:`EngineLoadError` naming the file."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception as exc:  # noqa: BLE001 - any damage must become a clear load error
        raise EngineLoadError(f"snapshot file {path} is corrupted or truncated: {type(exc).__name__}: {exc}") from exc


@functools.cache
def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def seed_frontend(data: dict[str, Any], directory: Path | None = None) -> None:
    """Hand the stored jieba prefix dictionary, pinyin table, CC-CEDICT phrases and CMUdict to the
    frontend modules, so their first use finds them loaded.

    The two word tables in ``directory`` (``word_tables``) open in milliseconds; the phrases stay on
    disk until a word holds a character the pinyin table lacks. A table built with another jieba, pypinyin or
    pypinyin-dict than the one installed is not used: that part loads the normal (slow) way, with a
    warning for jieba. A damaged table file is an :class:`EngineLoadError` naming it."""
    import jieba

    from function.engines.emotivoice import chinese, english

    jieba_matches = data.get("jieba_version") == getattr(jieba, "__version__", None)
    if jieba_matches and directory is not None and "jieba_total" in data:
        phrases_match = data.get("pypinyin_dict_version") == _installed("pypinyin-dict")
        pinyin_matches = phrases_match and data.get("pypinyin_version") == _installed("pypinyin")
        try:
            words = FrequencyTable.open(directory / fmt.WORDS)
            syllables = SyllableTable.open(directory / fmt.SYLLABLES) if pinyin_matches else None
        except TableError as exc:
            raise EngineLoadError(str(exc)) from exc
        phrases_path = directory / fmt.PHRASES
        chinese.initialise(prefix_dictionary=(words, int(data["jieba_total"])), syllables=syllables,
                           single_char_phrases=data.get("single_char_phrases", ()),
                           phrases=(lambda: load_pickle(phrases_path)) if phrases_match else None)
    elif not jieba_matches:
        log.warning("jieba %s differs from the snapshot's %s: building its dictionary at start-up",
                    getattr(jieba, "__version__", "?"), data.get("jieba_version"))
    if data.get("cmudict") is not None:
        english.use_cmu_dictionary(fmt.PhoneTable(data["cmudict"]))


def prompt_table(prompts: dict[str, Any]) -> dict[str, Any]:
    """prompts.pkl (``texts`` and one ``vectors`` row per text) as prompt -> row."""
    texts, vectors = prompts["texts"], prompts["vectors"]
    if len(texts) != len(vectors):
        raise ValueError(f"{len(texts)} prompts but {len(vectors)} vectors")
    return {text: vectors[i] for i, text in enumerate(texts)}


def frontend_parts(frontend: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The non-network parts every snapshot runtime builds its engine from (tokenizer, tables, hop), from
    the stored frontend data; the runtimes add their own three networks."""
    from function.engines.emotivoice.tokenizer import WordPieceTokenizer

    return {
        "hop": int(manifest["dims"]["vocoder"]["hop"]),
        "tokenizer": WordPieceTokenizer(frontend["bert_vocab"], lower_case=frontend["bert_lower_case"]),
        "token_ids": frontend["token_ids"],
        "speakers": frontend["speakers"],
        "lexicon": fmt.PhoneTable(frontend["lexicon"]),
        "prompt_vocabulary": frontend["prompt_vocabulary"],
        "speaker_table": frontend["speaker_table"],
    }


class StageClock:
    """Seconds since the start at each named loading stage (the cold-start breakdown), for both runtimes."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}

    def mark(self, stage: str) -> None:
        self.stages[stage] = round(time.perf_counter() - self.started, 3)

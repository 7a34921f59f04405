"""Upstream's combined Chinese/English frontend: text -> phoneme tokens -> token ids.

Order of operations (SPEC): numbers become Chinese numerals over the whole text; the text is cut into
runs (a run starting with a Han character extends over Han characters, spaces and Chinese punctuation;
any other run extends over non-Han characters); Chinese runs take the Chinese path, other runs the English
path; ``eng_cn_sp`` marks an English->Chinese switch; a trailing break is dropped and the result wrapped
in ``<sos/eos>``. Tokens missing from the home's token list are dropped with a warning, never a crash.
Owns text -> token ids; imports only the text modules (never torch, a runtime or ``snapshot/``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from function.engines.emotivoice.chinese import CHINESE_PUNCTUATION, chinese_tokens, initialise
from function.engines.emotivoice.english import Lexicon, cmu_dictionary, english_tokens
from function.engines.emotivoice.numbers import numbers_to_chinese

log = logging.getLogger(__name__)

SOS_EOS = "<sos/eos>"
_HAN = "\u4e00-\u9fa5"
_RUNS = re.compile(
    "([^" + _HAN + "]+|[ " + re.escape("".join(sorted(CHINESE_PUNCTUATION))) + _HAN + "]+)"
)
_HAN_CHAR = re.compile("[" + _HAN + "]")


def text_to_tokens(text: str, lexicon: Lexicon) -> list[str]:
    """Upstream's ``g2p_cn_en``: the phoneme token sequence for one sentence, ``<sos/eos>`` included."""
    text = numbers_to_chinese(text)
    tokens: list[str] = [SOS_EOS]
    previous = ""
    for run in _RUNS.findall(text):
        if run == " " or not run:
            continue
        if _HAN_CHAR.match(run[0]):
            if previous == "en":
                tokens.append("eng_cn_sp")
            tokens.extend(chinese_tokens(run))
            previous = "cn"
        else:
            phones = english_tokens(run, lexicon)
            if not phones:
                continue
            if previous == "cn" and "sp" not in tokens[-1]:
                tokens.append("cn_eng_sp")
            tokens.extend(phones)
            previous = "en"
    if "sp" in tokens[-1]:
        tokens.pop()
    tokens.append(SOS_EOS)
    return tokens


@dataclass
class Frontend:
    """Frontend bound to one home: its lexicon and token table. Read-only after construction, so one
    instance serves every worker thread."""

    lexicon: Lexicon
    token_ids: Mapping[str, int]

    def warm(self) -> None:
        """Load jieba, pypinyin phrase data (none with a snapshot's pinyin table) and CMUdict now
        instead of at the first request."""
        initialise()
        cmu_dictionary()

    def tokens(self, text: str) -> list[str]:
        return text_to_tokens(text, self.lexicon)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Map tokens to ids, dropping (and logging) tokens the token list lacks."""
        out: list[int] = []
        for token in tokens:
            index = self.token_ids.get(token)
            if index is None:
                log.warning("phoneme %r not in the token list: dropped", token)
                continue
            out.append(index)
        return out

    def __call__(self, text: str) -> tuple[list[str], list[int]]:
        tokens = self.tokens(text)
        return tokens, self.ids(tokens)

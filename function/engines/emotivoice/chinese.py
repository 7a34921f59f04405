"""Chinese text -> upstream phoneme tokens (jieba words, pypinyin syllables, initial/final split).

Upstream EmotiVoice's Chinese path is reproduced rule for rule, quirks included (see SPEC): a word is
converted by one pypinyin call so phrase readings apply, punctuation turns the previous break into
``sp3``, syllables are joined by ``sp0`` and words end in ``sp1``. The jieba dictionary and pypinyin's
phrase data are loaded once by :func:`initialise` (about half a second) so a request never pays for it;
a snapshot hands :func:`initialise` the tables it stored (see :func:`prefix_dictionary`) instead.
Owns the Chinese path and its process-wide jieba state; must not import ``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import jieba
from pypinyin import Style, pinyin

log = logging.getLogger(__name__)

# Punctuation that keeps a run Chinese and that turns the previous break into sp3 (SPEC's list).
CHINESE_PUNCTUATION = frozenset("（。，？！；：“”‘’《》〈〉【】『』—…、（）")
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

_INITIALS_WITH_II = {"z", "c", "s", "r"}
_INITIALS_WITH_III = {"zh", "ch", "sh"}
# y-syllables that lose the y and take an i- final; upstream's list omits "yue" (a typo we reproduce).
_Y_TO_I = {"ya": "ia", "yan": "ian", "yang": "iang", "yao": "iao", "ye": "ie", "yong": "iong", "you": "iou"}
_Y_TO_I_SAME = {"yi": "i", "yin": "in", "ying": "ing"}
_Y_TO_V = {"yu": "v", "yuan": "van", "yun": "vn", "yv": "v", "yvan": "van", "yvn": "vn"}
_SYLLABIC = {"n": "en", "ng": "eng", "m": "em"}
_FINAL_FIXES = {"ui": "uei", "iu": "iou", "un": "uen", "ue": "ve"}
_VOWELS = frozenset("aeiouv")

_init_lock = threading.Lock()
_initialised = False
_tokenizer: jieba.Tokenizer | None = None


def initialise(
    *,
    prefix_dictionary: tuple[dict[str, int], int] | None = None,
    phrases: Mapping[str, list[list[str]]] | None = None,
) -> None:
    """Load jieba's dictionary and pypinyin's CC-CEDICT phrase data once per process (thread-safe).

    A snapshot passes what it stored at build time, so nothing is rebuilt: ``prefix_dictionary`` is
    jieba's (word -> frequency, total), as :func:`prefix_dictionary` returns it; ``phrases`` is
    pypinyin-dict's CC-CEDICT phrase table. Either may be None (loaded the normal way). A later call,
    with or without tables, does nothing.
    """
    global _initialised, _tokenizer
    with _init_lock:
        if _initialised:
            return
        jieba.setLogLevel(logging.WARNING)
        if phrases is not None:
            from pypinyin import load_phrases_dict

            load_phrases_dict(dict(phrases))  # what cc_cedict.load() does, minus importing its 0.27 s module
        else:
            from pypinyin_dict.phrase_pinyin_data import cc_cedict

            cc_cedict.load()
        tokenizer = jieba.Tokenizer()
        if prefix_dictionary is not None:
            tokenizer.FREQ, tokenizer.total = prefix_dictionary
            tokenizer.initialized = True
        else:
            tokenizer.initialize()
        _tokenizer = tokenizer
        _initialised = True


def prefix_dictionary() -> tuple[dict[str, int], int]:
    """jieba's prefix dictionary (word -> frequency) and its total, for a snapshot to store."""
    initialise()
    assert _tokenizer is not None
    return dict(_tokenizer.FREQ), int(_tokenizer.total)


def split_syllable(syllable: str) -> list[str]:
    """Split one TONE3 syllable (``zhong1``) into upstream's ``[initial, final+tone]`` tokens.

    The tone digit stays at the end of the final; a syllable with no initial yields one token.
    """
    tone = ""
    if syllable and syllable[-1].isdigit():
        syllable, tone = syllable[:-1], syllable[-1]
    erhua = ""
    if len(syllable) > 2 and syllable.endswith("r") and syllable != "er":
        syllable, erhua = syllable[:-1], "r"
    initial, final = _split_base(syllable)
    final = final + erhua + tone
    return [initial, final] if initial else [final]


def _split_base(py: str) -> tuple[str, str]:
    if py in _SYLLABIC:
        return "", _SYLLABIC[py]
    if py in ("zi", "ci", "si", "ri"):
        return py[0], "ii"
    if py in ("zhi", "chi", "shi"):
        return py[:2], "iii"
    if py in _Y_TO_I:
        return "", _Y_TO_I[py]
    if py in _Y_TO_I_SAME:
        return "", _Y_TO_I_SAME[py]
    if py in _Y_TO_V:
        return "", _Y_TO_V[py]
    if py == "wu":
        return "", "u"
    if py.startswith("w"):
        return "", "u" + py[1:]
    if py[:1] in ("j", "q", "x") and py[1:2] == "u":
        return py[0], "v" + py[2:]
    for index, ch in enumerate(py):
        if ch in _VOWELS:
            initial, final = py[:index], py[index:]
            return initial, _FINAL_FIXES.get(final, final)
    return "", py


def _is_punctuation(syllable: str) -> bool:
    if len(syllable) == 1 and syllable in _ASCII_PUNCTUATION:
        return True
    return any(ch in CHINESE_PUNCTUATION for ch in syllable)


def chinese_tokens(text: str) -> list[str]:
    """Phoneme tokens of a Chinese run (no ``<sos/eos>``), ending in ``sp1`` or ``sp3`` like upstream."""
    if not _initialised:
        initialise()
    assert _tokenizer is not None
    out: list[str] = []
    for word in _tokenizer.cut(text):
        if not word.strip():
            continue
        syllables = [s[0] for s in pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)]
        if any(_is_punctuation(s) for s in syllables):
            if out:
                out.pop()
            out.append("sp3")
            continue
        first = True
        for syllable in syllables:
            if not syllable or not syllable[-1].isdigit():
                log.warning("no pinyin for %r: dropped", syllable)
                continue
            if not first:
                out.append("sp0")
            out.extend(split_syllable(syllable))
            first = False
        if not first:
            out.append("sp1")
    return out

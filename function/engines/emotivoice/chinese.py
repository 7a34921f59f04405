"""Chinese text -> upstream phoneme tokens (jieba words, pypinyin syllables, initial/final split).

Upstream EmotiVoice's Chinese path is reproduced rule for rule, quirks included (see SPEC): a word is
converted by one pypinyin call so phrase readings apply, punctuation turns the previous break into
``sp3``, syllables are joined by ``sp0`` and words end in ``sp1``. The jieba dictionary and pypinyin's
phrase data are loaded once by :func:`initialise` (about half a second) so a request never pays for it.
A snapshot hands :func:`initialise` the tables it stored instead: jieba's prefix dictionary and the pinyin
of every pypinyin phrase and character as compact tables (``word_tables``), from which any word's pinyin
is computed as pypinyin would, so a snapshot-served process never imports pypinyin (unless a word holds
a character the table lacks).
Owns the Chinese path and its process-wide jieba state; must not import ``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

import jieba

from function.engines.emotivoice.word_tables import FrequencyTable, SyllableTable

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

Phrases = Mapping[str, list[list[str]]]

_init_lock = threading.Lock()
_initialised = False
_tokenizer: jieba.Tokenizer | None = None
_syllables: SyllableTable | None = None
_single_char_phrases: frozenset[str] = frozenset()
_phrases: Phrases | Callable[[], Phrases] | None = None
_pypinyin_lock = threading.Lock()
_pinyin: Callable[[str], list[str]] | None = None


def initialise(
    *,
    prefix_dictionary: tuple[Mapping[str, int], int] | None = None,
    phrases: Phrases | Callable[[], Phrases] | None = None,
    syllables: SyllableTable | None = None,
    single_char_phrases: Iterable[str] = (),
) -> None:
    """Set up jieba's dictionary and the pinyin source once per process (thread-safe).

    A snapshot passes what it stored at build time, so nothing is rebuilt: ``prefix_dictionary`` is
    jieba's (word -> frequency, total), as :func:`prefix_dictionary` returns it (a dict, or a
    :class:`~word_tables.FrequencyTable`); ``syllables`` is the pinyin table (:func:`pinyin_table`:
    every pypinyin phrase and every character, as pypinyin read them at build time) and
    ``single_char_phrases`` the one-character keys of pypinyin's phrase dictionary; ``phrases`` is
    pypinyin-dict's CC-CEDICT phrase table, or a function that reads it. With ``syllables``, pypinyin is
    not imported at all unless a word holds a character the table lacks (then it loads, with
    ``phrases``, on first need). Without, pypinyin and its phrase data load now (about half a second).
    Either table may be None (loaded the normal way). A later call, with or without tables, does nothing.
    """
    global _initialised, _tokenizer, _syllables, _phrases, _single_char_phrases
    with _init_lock:
        if _initialised:
            return
        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        if prefix_dictionary is not None:
            tokenizer.FREQ, tokenizer.total = prefix_dictionary
            tokenizer.initialized = True
        else:
            tokenizer.initialize()
        _tokenizer, _syllables, _phrases = tokenizer, syllables, phrases
        _single_char_phrases = frozenset(single_char_phrases)
        _initialised = True
    if syllables is None:
        preload_pinyin()


def preload_pinyin() -> None:
    """Import pypinyin and load the CC-CEDICT phrases now (idempotent, thread-safe): the normal path,
    and with a pinyin table the fallback for characters the table lacks."""
    global _pinyin
    with _pypinyin_lock:
        if _pinyin is not None:
            return
        from pypinyin import Style, load_phrases_dict, pinyin

        source = _phrases() if callable(_phrases) else _phrases
        if source is not None:
            load_phrases_dict(dict(source))  # what cc_cedict.load() does, minus importing its 0.27 s module
        else:
            from pypinyin_dict.phrase_pinyin_data import cc_cedict

            cc_cedict.load()

        def convert(word: str) -> list[str]:
            return [s[0] for s in pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)]

        _pinyin = convert


def pinyin_loaded() -> bool:
    """Whether pypinyin has been loaded in this process (the start path avoids it with a table)."""
    return _pinyin is not None


def _max_match(word: str, table: SyllableTable, single_char_phrases: frozenset[str]) -> Iterator[str]:
    """pypinyin's strict forward maximum matching (``pypinyin.seg.mmseg.Seg`` with
    ``no_non_phrases=True``) over the table's phrases: the segments pypinyin converts one by one. A
    string is in pypinyin's prefix set when some phrase starts with it (``has_keys_with_prefix``; the
    table's extra one-character keys never change the outcome, as a single character always comes out
    alone unless it is a phrase); a key is a phrase when it has two or more characters or is listed in
    ``single_char_phrases``."""

    def is_phrase(text: str) -> bool:
        return (len(text) > 1 or text in single_char_phrases) and text in table

    remain = word
    while remain:
        last_valid = ""
        for index in range(len(remain)):
            prefix = remain[: index + 1]
            if table.has_keys_with_prefix(prefix):
                if is_phrase(prefix):
                    last_valid = prefix
            else:
                if last_valid:
                    yield last_valid
                    remain = remain[len(last_valid):]
                else:
                    yield remain[0]
                    remain = remain[1:]
                break
        else:  # every prefix of what remains starts some phrase
            if last_valid:  # (were all of ``remain`` a phrase, last_valid would be it)
                yield last_valid
                remain = remain[len(last_valid):]
            else:
                yield from remain
                break


def _table_syllables(word: str) -> list[str] | None:
    """A word's syllables from the pinyin table, exactly as pypinyin computes them (segment by strict
    maximum matching, each segment's phrase or character reading); None when the table cannot say (a
    character it lacks, or punctuation inside a multi-character word)."""
    table = _syllables
    if table is None:
        return None
    if len(word) == 1:
        found = table.get(word)
        return None if found is None else list(found)
    if not all(ch in table and ch not in CHINESE_PUNCTUATION for ch in word):
        return None  # pypinyin would cut non-Han characters out first: leave such words to it
    out: list[str] = []
    for segment in _max_match(word, table, _single_char_phrases):
        found = table.get(segment)
        if found is None:
            return None
        out.extend(found)
    return out


def word_syllables(word: str) -> list[str]:
    """pypinyin's TONE3 syllables of one jieba word (first reading each, neutral tone as 5): from the
    pinyin table when there is one, else from pypinyin itself (loaded on first need)."""
    found = _table_syllables(word)
    if found is not None:
        return found
    if _pinyin is None:
        preload_pinyin()
    assert _pinyin is not None
    return _pinyin(word)


def prefix_dictionary() -> tuple[dict[str, int], int]:
    """jieba's prefix dictionary (word -> frequency) and its total, for a snapshot to store."""
    initialise()
    assert _tokenizer is not None
    return dict(_tokenizer.FREQ), int(_tokenizer.total)


def pinyin_table() -> tuple[SyllableTable, list[str]]:
    """The pinyin table for a snapshot, computed now with the installed pypinyin and CC-CEDICT (the
    snapshot records their versions): ``pypinyin.pinyin`` of every phrase of its phrase dictionary, every
    Han character of its character dictionary (what its RE_HANS matches) and the Chinese punctuation;
    and the phrase dictionary's one-character keys. A character whose syllables cannot be stored (white
    space in them) is left out (words holding it take the pypinyin path at run time); a phrase that
    cannot is a ``ValueError``, since leaving it out would change the segmentation."""
    initialise()
    preload_pinyin()
    assert _pinyin is not None
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT, RE_HANS

    convert = _pinyin
    items = [(phrase, convert(phrase)) for phrase in PHRASES_DICT]  # every phrase, or segmentation would drift
    for char in dict.fromkeys([*(chr(c) for c in PINYIN_DICT if RE_HANS.match(chr(c))), *sorted(CHINESE_PUNCTUATION)]):
        syllables = convert(char)
        if char not in PHRASES_DICT and syllables and all(s and " " not in s for s in syllables):
            items.append((char, syllables))
    return SyllableTable.build(items), sorted(k for k in PHRASES_DICT if len(k) == 1)


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
        syllables = word_syllables(word)
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

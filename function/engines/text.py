"""Sentence splitting and language runs, shared by every engine.

Sentences are the unit of streaming (one audio chunk each) and of batching, so every engine splits the
same way. Language is decided per run of script inside a sentence: Han characters are Chinese, Latin
letters English; digits and punctuation join the run they sit in.

Shared by both engines and the service's text checks; imports nothing of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# Sentence ends. A run of CJK/ASCII terminal punctuation ends a sentence, together with the closing quotes
# and brackets right after it (full- and half-width): they belong to the sentence they close, so they stay
# in its text (the style/content encoder sees them, as upstream's does). ASCII "." only ends a sentence when
# white space follows, so "3.14" and "e.g." mid-word survive. A newline always ends a sentence. The white
# space after an end separates sentences and belongs to neither.
_CLOSERS = re.escape("”’\"'」』）)]】》〉")
_SENTENCE_END = re.compile(
    rf"(?P<end>[。！？!?；;…]+[{_CLOSERS}]*|\.+[{_CLOSERS}]*(?=\s))\s*|\s*\n\s*",
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_SOFT_BREAK = re.compile(r"(?<=[，,、：:])")

Language = Literal["zh", "en"]


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Split into sentences of at most ``max_chars`` characters, dropping empty ones.

    A sentence longer than ``max_chars`` is cut at commas first, then hard-cut, so a model with a
    bounded input (BERT: 512 positions) never sees more than it can take.
    """
    out: list[str] = []
    for raw in _cut_at_sentence_ends(text):
        sentence = raw.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        piece = ""
        for part in _SOFT_BREAK.split(sentence):
            if len(piece) + len(part) <= max_chars:
                piece += part
                continue
            if piece.strip():
                out.append(piece.strip())
            while len(part) > max_chars:
                out.append(part[:max_chars].strip())
                part = part[max_chars:]
            piece = part
        if piece.strip():
            out.append(piece.strip())
    return [s for s in out if s]


def _cut_at_sentence_ends(text: str) -> list[str]:
    """The text cut after each sentence end (its punctuation and closers kept, the white space after it
    dropped): every other character lands in exactly one piece, in order."""
    pieces: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        pieces.append(text[start : m.end("end") if m.group("end") is not None else m.start()])
        start = m.end()
    pieces.append(text[start:])
    return pieces


def has_speakable(text: str) -> bool:
    """True when the text holds at least one letter, digit or Han character."""
    return any(ch.isalnum() for ch in text)


@dataclass(frozen=True)
class Run:
    language: Language
    text: str


def language_runs(sentence: str, default: Language = "en") -> list[Run]:
    """Cut a sentence into maximal runs of one script. Neutral characters (digits, spaces, punctuation)
    attach to the run before them, or to the next run at the start of the sentence."""
    runs: list[Run] = []
    pending = ""
    current: Language | None = None
    buf = ""
    for ch in sentence:
        lang: Language | None = "zh" if _HAN.match(ch) else ("en" if _LATIN.match(ch) else None)
        if lang is None:
            if current is None:
                pending += ch
            else:
                buf += ch
            continue
        if current is None:
            current, buf = lang, pending + ch
            pending = ""
        elif lang == current:
            buf += ch
        else:
            runs.append(Run(current, buf))
            current, buf = lang, ch
    if current is None:
        return [Run(default, pending)] if pending.strip() else []
    runs.append(Run(current, buf))
    return [r for r in runs if r.text.strip()]

"""BERT's reference WordPiece tokenizer, re-implemented so the engine needs no ``transformers``.

Behaviour follows the reference ``BasicTokenizer`` + ``WordpieceTokenizer`` for an uncased vocabulary
(simbert-base-chinese): control characters removed, white space normalised, every CJK character its own
token, lower-casing with accent stripping, splitting on punctuation, then greedy longest-match-first
WordPiece with ``##`` continuation pieces; a word that cannot be covered (or is over 100 characters)
becomes ``[UNK]``. The sequence is wrapped as ``[CLS] ... [SEP]`` with no padding.
Owns BERT's tokenisation only; imports nothing of the engine (and no torch).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

MAX_CHARS_PER_WORD = 100


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def read_vocab(path: Path) -> dict[str, int]:
    """One token per line; id = line index (the reference tokenizer's convention)."""
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            token = line.rstrip("\n")
            if token not in vocab:
                vocab[token] = index
    return vocab


class WordPieceTokenizer:
    """Text -> BERT input ids. Stateless after construction, so safe to share between threads."""

    def __init__(self, vocab: dict[str, int], lower_case: bool = True) -> None:
        for special in ("[CLS]", "[SEP]", "[UNK]"):
            if special not in vocab:
                raise ValueError(f"vocab.txt lacks the special token {special}")
        self.vocab = vocab
        self.lower_case = lower_case
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self.unk_id = vocab["[UNK]"]
        self.pad_id = vocab.get("[PAD]", 0)

    def basic_tokens(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                cleaned.append(" ")
            elif _is_cjk(cp):
                cleaned.append(f" {ch} ")
            else:
                cleaned.append(ch)
        tokens: list[str] = []
        for word in "".join(cleaned).split():
            if self.lower_case:
                word = unicodedata.normalize("NFD", word.lower())
                word = "".join(c for c in word if unicodedata.category(c) != "Mn")
            piece = ""
            for ch in word:
                if _is_punctuation(ch):
                    if piece:
                        tokens.append(piece)
                        piece = ""
                    tokens.append(ch)
                else:
                    piece += ch
            if piece:
                tokens.append(piece)
        return tokens

    def wordpiece_ids(self, word: str) -> list[int]:
        if len(word) > MAX_CHARS_PER_WORD:
            return [self.unk_id]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = "##" + piece
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_length: int = 512) -> list[int]:
        """``[CLS] pieces [SEP]``, truncated to ``max_length`` positions (callers split long text first)."""
        ids = [self.cls_id]
        for word in self.basic_tokens(text):
            ids.extend(self.wordpiece_ids(word))
        ids = ids[: max_length - 1]
        ids.append(self.sep_id)
        return ids

"""Frontend: upstream's exact output for the 28 golden sentences, plus edge cases SPEC pins down."""

from __future__ import annotations

import logging

import pytest

from function.engines.emotivoice.chinese import chinese_tokens, initialise, split_syllable
from function.engines.emotivoice.english import english_tokens, g2p, letter_to_sound
from function.engines.emotivoice.frontend import Frontend, text_to_tokens
from function.engines.emotivoice.numbers import numbers_to_chinese

LEXICON = {"hello": ("HH", "AH0", "L", "OW1"), "world": ("W", "ER1", "L", "D")}


@pytest.fixture(scope="module", autouse=True)
def _init() -> None:
    initialise()


def test_goldens(golden_rows: list[tuple[str, str]]) -> None:
    assert len(golden_rows) == 28
    mismatches = [
        (text, expected, " ".join(text_to_tokens(text, {})))
        for text, expected in golden_rows
        if " ".join(text_to_tokens(text, {})) != expected
    ]
    assert mismatches == []


def test_spec_examples() -> None:
    assert " ".join(text_to_tokens("我来到北京，清华大学", {})) == (
        "<sos/eos> uo3 sp1 l ai2 sp0 d ao4 sp1 b ei3 sp0 j ing1 sp3 q ing1 sp0 h ua2 sp0 d a4 sp0 x ve2 <sos/eos>"
    )
    assert " ".join(text_to_tokens("你好啊！明天见。", {})) == (
        "<sos/eos> n i3 sp0 h ao3 sp1 a5 sp3 m ing2 sp0 t ian1 sp1 j ian4 <sos/eos>"
    )


@pytest.mark.parametrize(
    ("syllable", "expected"),
    [
        ("zhong1", ["zh", "ong1"]), ("huar1", ["h", "uar1"]), ("zi3", ["z", "ii3"]), ("shi4", ["sh", "iii4"]),
        ("yan2", ["ian2"]), ("you3", ["iou3"]), ("ying1", ["ing1"]), ("yuan2", ["van2"]), ("yue4", ["y", "ve4"]),
        ("wu3", ["u3"]), ("wei4", ["uei4"]), ("wen2", ["uen2"]), ("jun1", ["j", "vn1"]), ("xue2", ["x", "ve2"]),
        ("gui4", ["g", "uei4"]), ("liu2", ["l", "iou2"]), ("dun1", ["d", "uen1"]), ("lve4", ["l", "ve4"]),
        ("n2", ["en2"]), ("ng2", ["eng2"]), ("m2", ["em2"]), ("er2", ["er2"]), ("a1", ["a1"]),
    ],
)
def test_split_syllable(syllable: str, expected: list[str]) -> None:
    assert split_syllable(syllable) == expected


def test_numbers() -> None:
    assert numbers_to_chinese("2024") == "二千零二十四"
    assert numbers_to_chinese("12 and 5") == "十二 and 五"
    assert numbers_to_chinese("10.5%") == "十点五%"
    # upstream crashes on these; we read them as several numbers
    assert numbers_to_chinese("1.2.3") == "一点二.三"
    assert numbers_to_chinese("3.") == "三."


def test_mixed_language_breaks() -> None:
    # Chinese -> English: every Chinese run ends in a break, so cn_eng_sp never appears (upstream quirk)
    tokens = text_to_tokens("你好hello", LEXICON)
    assert tokens == ["<sos/eos>", "n", "i3", "sp0", "h", "ao3", "sp1", "[HH]", "[AH0]", "[L]", "[OW1]", "<sos/eos>"]
    tokens = text_to_tokens("hello你好", LEXICON)
    assert tokens[5] == "eng_cn_sp"
    assert "cn_eng_sp" not in text_to_tokens("我说hello world再见", LEXICON)


def test_english_punctuation_breaks() -> None:
    assert english_tokens("hello, world.", LEXICON) == ["[HH]", "[AH0]", "[L]", "[OW1]", "engsp4", "[W]", "[ER1]", "[L]", "[D]"]
    assert english_tokens("hello world", LEXICON)[4] == "engsp1"
    assert english_tokens("%。", LEXICON) == []


def test_english_fallbacks() -> None:
    assert g2p("cat") == ["K", "AE1", "T"]  # CMUdict
    assert g2p("%") == []
    made_up = g2p("zorblax")
    assert made_up == letter_to_sound("zorblax") and made_up[0] == "Z"
    assert any(p[-1] == "1" for p in made_up)


def test_chinese_punctuation_placement() -> None:
    # Chinese punctuation at the very start lands in an English run and disappears
    assert text_to_tokens("《红楼梦》", {}) == ["<sos/eos>", "h", "ong2", "sp0", "l", "ou2", "sp0", "m", "eng4", "<sos/eos>"]
    # glued to English letters it stays part of the English word
    assert text_to_tokens("hello。", LEXICON) == ["<sos/eos>", "[HH]", "[AH0]", "[L]", "[OW1]", "<sos/eos>"]
    assert chinese_tokens("好，，") == ["h", "ao3", "sp3"]


def test_unknown_tokens_dropped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    frontend = Frontend(lexicon=LEXICON, token_ids={"<sos/eos>": 1, "n": 5, "i3": 6})
    with caplog.at_level(logging.WARNING):
        tokens, ids = frontend("你")
    assert tokens == ["<sos/eos>", "n", "i3", "<sos/eos>"] and ids == [1, 5, 6, 1]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        tokens, ids = frontend("好")  # h / ao3 are missing from this tiny table
    assert tokens == ["<sos/eos>", "h", "ao3", "<sos/eos>"] and ids == [1, 1]
    assert "not in the token list" in caplog.text


def test_empty_and_symbol_only_text() -> None:
    assert text_to_tokens("", {}) == ["<sos/eos>", "<sos/eos>"]
    assert text_to_tokens("%。…", {}) == ["<sos/eos>", "<sos/eos>"]
    assert text_to_tokens("@#$ ^&", {}) == ["<sos/eos>", "<sos/eos>"]

from __future__ import annotations

import pytest

from function.engines.emotions import CANONICAL, CHINESE_NAMES, recognise
from function.engines.text import language_runs, split_sentences


def test_split_sentences_keeps_punctuation_and_decimals() -> None:
    assert split_sentences("你好啊！明天见。It costs 3.14 dollars. Fine?") == [
        "你好啊！", "明天见。", "It costs 3.14 dollars.", "Fine?"]


def test_split_sentences_bounds_length() -> None:
    parts = split_sentences("一" * 450 + "。", max_chars=200)
    assert all(len(p) <= 200 for p in parts) and "".join(parts) == "一" * 450 + "。"
    commas = split_sentences("，".join(["二" * 90] * 5), max_chars=200)
    assert all(len(p) <= 200 for p in commas) and len(commas) == 3


def test_language_runs_mixed() -> None:
    runs = language_runs("我今天有一个meeting很重要")
    assert [(r.language, r.text) for r in runs] == [("zh", "我今天有一个"), ("en", "meeting"), ("zh", "很重要")]
    assert [(r.language, r.text) for r in language_runs("123")] == [("en", "123")]
    assert language_runs("123", default="zh")[0].language == "zh"
    assert language_runs("   ") == []


@pytest.mark.parametrize("emotion", CANONICAL)
def test_every_emotion_by_chinese_and_english_name(emotion: str) -> None:
    assert recognise(emotion).emotion == emotion
    assert recognise(CHINESE_NAMES[emotion]).emotion == emotion


@pytest.mark.parametrize(("prompt", "emotion", "intensity", "known"), [
    ("very sad", "sad", 1.5, True), ("有点害怕", "fearful", 0.5, True), ("unhappy", "sad", 1.0, True),
    ("用愤怒的语气说", "angry", 1.0, True), ("", "neutral", 1.0, True), ("zorbly", "neutral", 1.0, False),
])
def test_free_text_prompts(prompt: str, emotion: str, intensity: float, known: bool) -> None:
    r = recognise(prompt)
    assert (r.emotion, r.intensity, r.recognised) == (emotion, intensity, known)

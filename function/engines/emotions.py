"""The emotion vocabulary every engine understands, and free-text recognition of it.

EmotiVoice was trained on seven emotions named in Chinese (普通 生气 开心 惊讶 悲伤 厌恶 恐惧). We accept
those, their English names, common synonyms in both languages, and free text containing any of them
("very sad", "用开心的语气"). Engines that can use free text directly (EmotiVoice's BERT style encoder)
still use this to report which emotion was meant; engines that cannot (espeak) map the result to prosody.

Shared by both engines; imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

CANONICAL = ("neutral", "angry", "happy", "surprised", "sad", "disgusted", "fearful")

CHINESE_NAMES: dict[str, str] = {
    "neutral": "普通",
    "angry": "生气",
    "happy": "开心",
    "surprised": "惊讶",
    "sad": "悲伤",
    "disgusted": "厌恶",
    "fearful": "恐惧",
}

# Longest keywords are matched first so "unhappy" is not read as "happy".
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral", "normal", "calm", "plain", "普通", "平静", "正常", "中性", "平淡"),
    "angry": ("angry", "anger", "mad", "furious", "annoyed", "rage", "生气", "愤怒", "恼火", "气愤", "发火"),
    "happy": (
        "happy", "happiness", "joyful", "joy", "cheerful", "glad", "excited", "delighted",
        "开心", "高兴", "快乐", "愉快", "兴奋", "喜悦", "欢快",
    ),
    "surprised": ("surprised", "surprise", "amazed", "astonished", "shocked", "惊讶", "吃惊", "惊奇", "震惊"),
    "sad": ("sad", "sadness", "unhappy", "sorrowful", "depressed", "upset", "悲伤", "伤心", "难过", "悲哀", "忧伤"),
    "disgusted": ("disgusted", "disgust", "disgusting", "厌恶", "恶心", "嫌弃", "反感"),
    "fearful": ("fearful", "fear", "afraid", "scared", "frightened", "terrified", "恐惧", "害怕", "惊恐", "恐慌"),
}
_KEYWORDS: list[tuple[str, str]] = sorted(
    ((kw.lower(), emo) for emo, kws in _SYNONYMS.items() for kw in kws), key=lambda kv: -len(kv[0])
)
_INTENSIFIERS = ("very", "extremely", "really", "so ", "super", "很", "非常", "特别", "十分", "极其", "超级")
_SOFTENERS = ("slightly", "a bit", "a little", "somewhat", "mildly", "有点", "稍微", "略微", "一点")


@dataclass(frozen=True)
class Recognised:
    emotion: str  # one of CANONICAL
    intensity: float  # 0.5 (slightly) .. 1.0 (plain) .. 1.5 (very)
    recognised: bool  # False: nothing matched, neutral is a fallback


def recognise(prompt: str | None) -> Recognised:
    """Find the emotion a free-text prompt asks for. Empty prompt = neutral, recognised."""
    text = (prompt or "").strip().lower()
    if not text:
        return Recognised("neutral", 1.0, True)
    for keyword, emotion in _KEYWORDS:
        if keyword in text:
            if keyword == "happy" and "unhappy" in text:
                continue
            intensity = 1.0
            if any(w in text for w in _INTENSIFIERS):
                intensity = 1.5
            elif any(w in text for w in _SOFTENERS):
                intensity = 0.5
            return Recognised(emotion, intensity, True)
    return Recognised("neutral", 1.0, False)

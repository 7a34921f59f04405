"""The espeak engine's curated voices: stable ids, names, gender, language, and OpenAI aliases.

Each voice is an espeak-ng variant (f1..f5, m1..m7) on a primary language. Runs of the other language
inside a sentence are spoken with the same variant on that language's base voice, so a "Chinese" voice
reads embedded English words in English and vice versa.

Must not import the service layer or interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from function.engines.base import Voice

LANGUAGE_BASE = {"zh": "cmn", "en": "en-us"}


@dataclass(frozen=True)
class EspeakVoice:
    voice: Voice
    base: str  # espeak base voice name for the primary language: "en-us", "en" (British), "cmn"
    variant: str  # espeak variant: "f2", "m3"
    pitch_offset: int = 0  # added to espeak's pitch (0-100) so voices sharing a variant still differ

    def espeak_name(self, language: str) -> str:
        base = self.base if language == self.voice.language else LANGUAGE_BASE[language]
        return f"{base}+{self.variant}"


def _v(id_: str, name: str, gender: str, lang: str, base: str, variant: str, desc: str,
       aliases: tuple[str, ...] = (), pitch_offset: int = 0) -> EspeakVoice:
    return EspeakVoice(Voice(id_, name, gender, lang, desc, aliases), base, variant, pitch_offset)  # type: ignore[arg-type]


VOICES: tuple[EspeakVoice, ...] = (
    _v("zh-f2", "Xiaomei", "female", "zh", "cmn", "f2", "Mandarin, female, bright", ("marin",)),
    _v("zh-f4", "Xiaoyu", "female", "zh", "cmn", "f4", "Mandarin, female, soft"),
    _v("zh-m1", "Zhiwei", "male", "zh", "cmn", "m1", "Mandarin, male, mid", ("cedar",)),
    _v("zh-m3", "Haoran", "male", "zh", "cmn", "m3", "Mandarin, male, low"),
    _v("en-us-f2", "Emma", "female", "en", "en-us", "f2", "US English, female, bright", ("nova", "alloy")),
    _v("en-us-f4", "Grace", "female", "en", "en-us", "f4", "US English, female, warm", ("coral", "shimmer")),
    _v("en-us-m1", "Oliver", "male", "en", "en-us", "m1", "US English, male, mid", ("echo", "verse")),
    _v("en-us-m3", "Henry", "male", "en", "en-us", "m3", "US English, male, deep", ("ash",)),
    _v("en-us-m7", "Jack", "male", "en", "en-us", "m7", "US English, male, very deep", ("onyx",), -8),
    _v("en-gb-f3", "Alice", "female", "en", "en", "f3", "British English, female", ("sage",)),
    _v("en-gb-m2", "Arthur", "male", "en", "en-gb-x-rp", "m2", "British English (RP), male", ("fable", "ballad")),
)

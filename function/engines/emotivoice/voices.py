"""The speaker table as engine voices, and the documented OpenAI-name defaults.

Every line of ``speaker2`` is a voice whose id is the speaker id string (``"8051"``). Names and genders
come from the home's optional ``speakers.md`` (upstream's voice wiki table); without it, the few default
speakers below still carry their documented name and gender. OpenAI voice names map to speakers from
the top of upstream's wiki table (the voices it describes), matched by gender to OpenAI's voices.
Owns speaker -> voice mapping; imports only ``function.engines`` shared names (no torch, no runtime).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from function.engines.base import UnknownVoiceError, Voice
from function.engines.openai_voices import OPENAI_VOICES
from function.errors import shown

# speaker id -> (name, gender letter): the documented defaults, from upstream's voice wiki page.
DEFAULT_SPEAKERS: dict[str, tuple[str, str]] = {
    "8051": ("Maria Kasper", "F"),
    "11614": ("Sylviamb", "F"),
    "9017": ("John Van Stan", "M"),
    "6097": ("Phil Benson", "M"),
    "6671": ("Tony Oliva", "M"),
    "6670": ("Mike Pelton", "M"),
    "9136": ("Helen Taylor", "F"),
    "11697": ("Celine Major", "F"),
    "92": ("Cori Samuel", "F"),
    "12787": ("LikeManyWaters", "F"),
    "1018": ("JimmyLogan", "M"),
    "1027": ("Brooks Jensen", "M"),
    "1028": ("Tim Lundeen", "M"),
}

OPENAI_DEFAULTS: dict[str, str] = {
    "alloy": "8051",
    "ash": "6097",
    "ballad": "6670",
    "coral": "92",
    "echo": "9017",
    "fable": "6671",
    "nova": "11614",
    "onyx": "1018",
    "sage": "9136",
    "shimmer": "11697",
    "verse": "1028",
    "marin": "12787",
    "cedar": "1027",
}
assert set(OPENAI_DEFAULTS) == set(OPENAI_VOICES)

_GENDERS = {"F": "female", "M": "male"}


@dataclass(frozen=True)
class VoiceTable:
    """Immutable lookup from every accepted spelling to (Voice, speaker index)."""

    voices: tuple[Voice, ...]
    by_id: Mapping[str, tuple[Voice, int]]  # voice id -> (voice, speaker index = line in speaker2)
    lookup: Mapping[str, str]  # lower-cased id or alias -> voice id

    def resolve(self, name: str) -> tuple[Voice, int]:
        key = (name or "").strip().lower()
        voice_id = self.lookup.get(key)
        if voice_id is None:
            raise UnknownVoiceError(
                f"unknown voice {shown(name)}: use a speaker id from GET /v1/audio/voices (e.g. "
                f"{self.voices[0].id!r}) or an OpenAI voice name",
                param="voice",
            )
        return self.by_id[voice_id]


def build_voice_table(speakers: Sequence[str], table: Mapping[str, tuple[str, str, str]]) -> VoiceTable:
    """Voices for every speaker line; OpenAI names alias their default speaker, or speaker 0 when a
    (fine-tuned or test) home lacks that speaker."""
    aliases: dict[str, list[str]] = {}
    for openai_name, speaker_id in OPENAI_DEFAULTS.items():
        target = speaker_id if speaker_id in speakers else speakers[0]
        aliases.setdefault(target, []).append(openai_name)
    voices: list[Voice] = []
    by_id: dict[str, tuple[Voice, int]] = {}
    lookup: dict[str, str] = {}
    for i, speaker_id in enumerate(speakers):
        if speaker_id in by_id:
            continue
        name, gender, description = table.get(speaker_id, ("", "", ""))
        if not name and speaker_id in DEFAULT_SPEAKERS:
            name, gender = DEFAULT_SPEAKERS[speaker_id]
        voice = Voice(
            id=speaker_id,
            name=name or f"Speaker {speaker_id}",
            gender=_GENDERS.get(gender.upper()[:1], "unknown"),  # type: ignore[arg-type]
            language="en",
            description=description or "EmotiVoice speaker (speaks Chinese and English)",
            aliases=tuple(aliases.get(speaker_id, ())),
        )
        by_id[speaker_id] = (voice, i)
        voices.append(voice)
        lookup[speaker_id.lower()] = speaker_id
    for speaker_id, names in aliases.items():
        for alias in names:
            lookup.setdefault(alias, speaker_id)
    return VoiceTable(voices=tuple(voices), by_id=by_id, lookup=lookup)

"""Where things live in an "EmotiVoice home" (the directory a user has after following upstream's README).

One place for the relative paths, shared by the loader (which reads them) and the random-home generator
(which writes them), so the two cannot drift apart. Imports nothing of the engine.
"""

from __future__ import annotations

from pathlib import Path

AM_CKPT_DIR = Path("outputs/prompt_tts_open_source_joint/ckpt")
AM_CKPT = AM_CKPT_DIR / "g_00140000"
STYLE_CKPT_DIR = Path("outputs/style_encoder/ckpt")
STYLE_CKPT = STYLE_CKPT_DIR / "checkpoint_163431"
BERT_DIR = Path("WangZeJun/simbert-base-chinese")
BERT_CONFIG = BERT_DIR / "config.json"
BERT_VOCAB = BERT_DIR / "vocab.txt"
TEXT_DIR = Path("data/youdao/text")
TOKENLIST = TEXT_DIR / "tokenlist"
SPEAKERS = TEXT_DIR / "speaker2"
LABEL_FILES = tuple(TEXT_DIR / name for name in ("emotion", "pitch", "energy", "speed"))
LEXICON = Path("lexicon/librispeech-lexicon.txt")
CONFIG = Path("config/joint/config.yaml")
# Optional: upstream's voice wiki table (id | name | gender | description) for voice names and genders.
SPEAKER_TABLE = Path("speakers.md")


def find_checkpoint(home: Path, default: Path, prefix: str) -> Path | None:
    """The released file name if present, else the highest-numbered ``<prefix><step>`` beside it
    (fine-tuning writes other step numbers)."""
    if (home / default).is_file():
        return home / default
    folder = home / default.parent
    if not folder.is_dir():
        return None
    steps = []
    for candidate in folder.iterdir():
        suffix = candidate.name[len(prefix):]
        if candidate.name.startswith(prefix) and suffix.isdigit() and candidate.is_file():
            steps.append((int(suffix), candidate))
    return max(steps)[1] if steps else None

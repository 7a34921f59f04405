"""The text each sentence's style/content encoder sees, and the audio that follows from it, against
upstream's per-call pipeline (SPEC: content vector = BERT(the raw input text); parity is per sentence).

Upstream synthesises one sentence per call and hands that sentence, exactly as typed, to BERT. For a
single-sentence input our engine must therefore produce what the SPEC-literal references in
``reference.py`` produce from the raw text: its closing quotes and brackets, ellipses and trailing white
space included. The engine is driven only through its public API (``synthesize``, ``frontend``, its
parts' configuration); the expected audio comes from the raw checkpoint tensors.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from function.engines.base import SynthesisRequest
from function.engines.emotivoice import layout
from function.engines.text import split_sentences

from . import reference

VOICE = "8051"
PROMPT = "开心"

# Single sentences upstream would take in one call, each ending in something the old splitter cut off
# (closing quotes/brackets of both widths) or handled specially (ellipses, trailing white space).
ONE_SENTENCE = [
    "他说：“这个方案，行不行？”",
    "「你好。」",
    "『再见！』",
    "（这是真的。）",
    "(This is true.)",
    "[Really?]",
    "【注意！】",
    "他说《好的！》",
    '"Stop!"',
    "'Go now!'",
    "她笑了：‘好啊！’",
    "等一下……",
    "Wait...",
    "今天天气很好。 ",
    "今天天气很好。\n",
]


@pytest.fixture(scope="module")
def upstream(tiny_home: Path):
    """Upstream's pipeline for one sentence, from the raw checkpoints and SPEC-literal references."""
    joint = torch.load(tiny_home / layout.AM_CKPT, weights_only=True)["generator"]
    style_state = torch.load(tiny_home / layout.STYLE_CKPT, weights_only=True)["model"]
    speakers = (tiny_home / layout.SPEAKERS).read_text(encoding="utf-8").split()

    def run(engine, text: str) -> np.ndarray:
        tokenizer = engine.parts.tokenizer
        heads_bert = engine.parts.bert.config.num_attention_heads
        style = reference.bert_pooler(style_state, tokenizer.encode(PROMPT), heads_bert)
        content = reference.bert_pooler(style_state, tokenizer.encode(text), heads_bert)  # the raw text
        _, ids = engine.frontend(text)
        frames = reference.acoustic(joint, ids, speakers.index(VOICE), style, content,
                                    engine.parts.acoustic.config.heads)
        return reference.vocoder(joint, frames.T).numpy()

    return run


@pytest.mark.parametrize("text", ONE_SENTENCE)
def test_one_sentence_matches_upstream_on_the_raw_text(tiny_engine, upstream, text: str) -> None:
    chunks = list(tiny_engine.synthesize(SynthesisRequest(text=text, voice=VOICE, prompt=PROMPT)))
    assert len(chunks) == 1, [c.text for c in chunks]
    ours = chunks[0].pcm
    theirs = upstream(tiny_engine, text)
    assert ours.shape == theirs.shape
    # In 16-bit steps: equal to within the rounding noise of two float paths (< half a step).
    steps = float(np.max(np.abs(ours - theirs))) * 32768
    assert steps < 0.5, (chunks[0].text, steps)
    assert chunks[0].text == text.strip()  # what BERT was given: the sentence as typed (white space aside)


def test_closing_quote_changes_the_content_vector(tiny_engine) -> None:
    """The regression of issue 12 is visible at all: with and without the closing quote, BERT differs."""
    encode = tiny_engine.parts.tokenizer.encode
    assert encode("他说：“这个方案，行不行？”") != encode("他说：“这个方案，行不行？")


@pytest.mark.parametrize(
    "text,sentences",
    [
        ("他说：“这个方案，行不行？”我说：“行。”", ["他说：“这个方案，行不行？”", "我说：“行。”"]),
        ("「你好。」『再见！』", ["「你好。」", "『再见！』"]),
        ("（完）。」好", ["（完）。」", "好"]),
        ('He said "yes!" Then left.', ['He said "yes!"', "Then left."]),
        ("(Really?) [Yes.] 【好！】", ["(Really?)", "[Yes.]", "【好！】"]),
        ("你好！？好的……再见。", ["你好！？", "好的……", "再见。"]),
        ("Wait... what? It costs 3.14 dollars.", ["Wait...", "what?", "It costs 3.14 dollars."]),
        ("第一行\n第二行\r\n\n第三行 ", ["第一行", "第二行", "第三行"]),
    ],
)
def test_closing_punctuation_stays_with_its_sentence(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


_ALPHABET = st.sampled_from(list("你好世界ab Z9.。！？!?；;…”’\"'」』）)]】》〈〉（([「『“‘ \n\t\r，,、："))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=300), st.integers(min_value=1, max_value=60))
def test_splitting_never_loses_or_duplicates_a_character(text: str, max_chars: int) -> None:
    sentences = split_sentences(text, max_chars=max_chars)
    # Joined, the sentences are the input without the white space that separated them ...
    assert re.sub(r"\s", "", "".join(sentences)) == re.sub(r"\s", "", text)
    # ... and each one is a piece of the input, in order, never empty, never padded, never too long.
    at = 0
    for s in sentences:
        assert s and s == s.strip() and len(s) <= max_chars
        found = text.find(s, at)
        assert found >= 0, (s, text)
        at = found + len(s)


README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_multi_sentence_output_is_each_sentence_alone_joined_with_the_documented_gap(tiny_engine) -> None:
    """Issue 12, item 3: a multi-sentence text is not bit-equal to upstream's one-call output; the README's
    EmotiVoice section says how it relates (each sentence as upstream would render it alone, joined with
    no gap), and the engine does exactly that."""
    first, second = "他说：“行不行？”", "Hello there!"
    together = list(tiny_engine.synthesize(SynthesisRequest(text=f"{first} {second}", voice=VOICE, prompt=PROMPT)))
    alone = [next(iter(tiny_engine.synthesize(SynthesisRequest(text=t, voice=VOICE, prompt=PROMPT))))
             for t in (first, second)]
    assert [c.text for c in together] == [first, second]
    joined = np.concatenate([c.pcm for c in together])
    expected = np.concatenate([c.pcm for c in alone])  # gap: 0 samples
    assert joined.shape == expected.shape and np.allclose(joined, expected, atol=1e-6)
    section = _section("EmotiVoice engine")
    assert "not bit-equal" in section and "no gap" in section and "0 samples" in section

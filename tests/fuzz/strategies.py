"""Hypothesis strategies shared by the fuzz tests: hostile text, JSON values, references, header bytes.

Why hand-written pieces next to Hypothesis' own text: random code points rarely hit what breaks text
pipelines (a lone surrogate, NUL, a right-to-left override, 200 stacked combining marks, a ZWJ emoji
family), so those are mixed in on purpose, next to plain Chinese and English that reach the engine.
Bodies are serialised with ``json.dumps(ensure_ascii=True)``, which writes a lone surrogate as the raw
``\\ud800`` escape that a real client can send but no UTF-8 encoder would.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from function.audio.encoding import FORMATS

# Pieces that broke (or could break) a text pipeline somewhere: encoders, espeak, segmentation, logging.
HOSTILE_PIECES = (
    "\x00", "a\x00b", "\ud800", "\udfff", "\udbff\udc00", "\ud83d", "\ufeff", "\uffff", "\ufffe", "\U0010ffff",
    "\u202e", "\u202dabc\u202c", "\u200f", "\u200b", "\u2028", "\u2029", "\x1b[31m", "\x07", "\x7f", "\r\n", "\t",
    "e" + "\u0301" * 200, "\u0e01\u0e33" * 20, "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇨🇳", "😀" * 30, "ﷺ", "ß" * 20, "İ",
    "مرحبا بالعالم", "שלום", "नमस्ते", "こんにちは", "안녕하세요", "Привет", "１２３４", "½ Ⅻ ⅷ", "١٢٣",
    "99999999999999999999999", "1e309", "-0.0", "$1,000,000.00", "3.14159", "2026-12-02", "1/2",
    "http://example.com/?a=1&b=2", "user@example.com", "{name}", "%s%s%n", "${jndi:x}", "<speak>",
    "。。。！？", "...", "   ", "\u3000", "你好", "今天天气真好", "Hello, world.", "very happy", "开心",
)
WORDS = ("hello", "world", "today", "weather", "nice", "你好", "世界", "今天", "天气", "真好", "新年", "快乐",
         "Emma", "3", "42", "OK", "ABC", "re-do", "don't")

any_char = st.characters(exclude_categories=())  # surrogates (Cs) included
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.sampled_from(WORDS), st.text(any_char, max_size=12)),
    max_size=8,
).map("".join)
short_text = st.text(any_char, max_size=24)

# Values a client might send where a string is expected, and where a number is.
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), short_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(short_text, inner, max_size=4)),
    max_leaves=12,
)



def mostly(valid: st.SearchStrategy[Any], *junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` about three times in four, else one of ``junk``: enough valid fields that whole requests
    get past validation and reach the engine, enough junk that every field's validation is probed."""
    return st.one_of(valid, valid, valid, st.one_of(*junk))


formats = mostly(st.sampled_from(FORMATS), short_text)
languages = mostly(st.sampled_from(("auto", "zh", "en")), short_text)
voices = mostly(st.sampled_from(("alloy", "nova", "onyx", "zh-f2", "en-gb-m2", "marin")), short_text,
                st.just("v" * 100_000))
speeds = mostly(st.one_of(st.sampled_from((0.25, 4.0, 1.0)), st.floats(0.25, 4.0)),
                st.sampled_from((0.2499999, 4.0000001, 0, -1)), st.floats(allow_nan=True, allow_infinity=True),
                st.integers(), short_text)


# text_uri / recipients_uri values: well-formed and malformed s3://, file:// inside and outside the storage
# root (directly, by "..", by a link, percent-encoded), other schemes, huge ones. {root} is the server's
# storage root, {outside} a directory next to it holding the canary files (tests/fuzz/conftest.py).
# Nothing here points at a system file or an endless device: reading those would leak into CI logs or
# exhaust memory instead of failing a test.
REFERENCES = (
    "s3://[", "s3://]", "s3://bucket", "s3://bucket/", "s3://", "s3:///key", "s3://bucket/key",
    "s3://emotivoice-results/in/text.txt", "s3://other-bucket/secret.txt", "s3://bucket/" + "k" * 100_000,
    "s3://b/%00", "s3://b/a\x00b", "s3://user:pass@bucket/key", "s3://bucket:99999/key", "S3://bucket/key",
    "s3://\ud800/k", "file://{outside}/canary.txt", "file://{outside}/canary.jsonl",
    "file://{root}/../{outside_name}/canary.txt", "file://{root}/outside/canary.txt",
    "file://{root}/outside/canary.jsonl", "file://{root}/%2e%2e/x.txt", "file://{root}/missing.txt",
    "file://{root}/", "file://{root}/a\x00b", "file://", "file:", "file:relative.txt", "file://host/etc",
    "file:///" + "d/" * 5000, "file:///\udfff", "http://127.0.0.1:1/x", "ftp://x/y", "data:text/plain,hello", "",
    " ", "\x00",
)


def reference(template: str, storage_root: str, outside_dir: str) -> str:
    return (template.replace("{root}", storage_root).replace("{outside_name}", outside_dir.rsplit("/", 1)[-1])
            .replace("{outside}", outside_dir))


def references(storage_root: str, outside_dir: str) -> st.SearchStrategy[str]:
    """REFERENCES for this server, and random ``s3://`` / ``file://`` tails."""
    fixed = [reference(r, storage_root, outside_dir) for r in REFERENCES]
    return st.one_of(st.sampled_from(fixed), short_text, st.builds(lambda s: "s3://" + s, short_text),
                     st.builds(lambda s: "file://" + s, short_text))


def raw_json(value: Any) -> bytes:
    """``value`` as a client could send it: ASCII JSON (lone surrogates as ``\\uXXXX`` escapes; NaN and
    Infinity as Python's json writes them, which Python's parser reads back)."""
    return json.dumps(value, ensure_ascii=True).encode()


def nested(depth: int, shape: str = "list") -> bytes:
    """``depth`` levels of ``[[...]]`` or ``{"a":{"a":...}}`` as JSON text (too deep to build as objects)."""
    if shape == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# Header values as bytes: visible ASCII, obs-text (0x80-0xFF: latin-1, or the bytes of UTF-8 text, or
# invalid UTF-8), with inner spaces. Nothing HTTP's field-value grammar forbids (CR, LF, NUL, other
# controls): a request with those is not HTTP, and uvicorn's own parser answers it, not the app.
def field_value(raw: bytes) -> bytes:
    """``raw`` made a valid header field value: control bytes dropped, no surrounding blanks, not empty."""
    cleaned = bytes(b for b in raw if b >= 0x20 and b != 0x7F)
    return cleaned.strip(b" \t") or b"x"


header_values = st.one_of(
    st.binary(max_size=40),
    st.text(any_char.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), max_size=20).map(
        lambda s: s.encode("utf-8")),
    st.sampled_from((b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"caf\xe9", "€😀事件".encode(), b"\x80" * 50)),
).map(field_value)

"""Speech parameters under fuzz: arbitrary Unicode text, every format x sample rate, speeds at and past
their bounds, NUL in text, on both synthesis routes (``/v1/audio/speech``, ``/v1/synthesize``).

Beyond the invariant, a success must be real: the audio decodes (PyAV, or raw s16le for ``pcm``), is not
empty, and carries the rate the answer claims (``X-Sample-Rate``; ``/v1/audio/speech`` is always 24 kHz,
README "API"; Opus decoders always give 48 kHz). And a NUL in the text must not silently truncate it:
the text is either refused with a 4xx, or spoken whole (measured by duration against the same text with
the NUL replaced by a space, and against the part before the NUL alone).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from function.audio.encoding import FORMATS
from tests.audio_check import decode
from tests.fuzz.invariant import Answer, Target, fuzz_settings, violation
from tests.fuzz.strategies import WORDS, hostile_text, raw_json

SPEECH = "/v1/audio/speech"
NATIVE = "/v1/synthesize"
JSON = {"content-type": "application/json"}
RATES = (8000, 8001, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 47999, 48000)
# Formats that carry any rate: a rate in the documented range must simply work.
ANY_RATE_FORMATS = ("wav", "pcm", "flac")
SAMPLE_RATE_CODES = {"invalid_sample_rate", "unsupported_format", "invalid_value"}


def check_audio(answer: Answer, fmt: str, what: str, rate: int | None = None) -> float:
    """A 2xx carries decodable, non-empty audio at the claimed rate; returns its duration in seconds."""
    claimed = int(answer.headers.get("x-sample-rate", "0") or 0)
    expected = rate or claimed
    try:
        audio = decode(answer.body, fmt, pcm_rate=expected or 24_000)
    except Exception as exc:  # noqa: BLE001 - any decoder complaint means the bytes are not the audio claimed
        raise violation(f"undecodable {fmt}", f"{what}\n  -> {answer.status}, {len(answer.body)} bytes: "
                        f"{type(exc).__name__}: {exc}") from None
    if audio.duration <= 0:
        raise violation(f"empty {fmt} audio", f"{what}\n  -> {answer.status}, {len(answer.body)} bytes, no samples")
    if fmt not in ("opus", "pcm") and expected and audio.sample_rate != expected:
        raise violation(f"{fmt} rate mismatch", f"{what}\n  -> decoded at {audio.sample_rate} Hz, "
                        f"expected {expected} Hz (X-Sample-Rate {claimed})")
    if fmt == "opus" and audio.sample_rate != 48_000:
        raise violation("opus rate", f"{what}\n  -> Opus decoded at {audio.sample_rate} Hz, decoders give 48000")
    return audio.duration


def post(target: Target, path: str, body: dict[str, Any] | bytes, what: str = "") -> Answer:
    content = body if isinstance(body, bytes) else raw_json(body)
    return target.request("POST", path, content=content, headers=JSON,
                          what=what or f"POST {path} {content[:300]!r}")


@fuzz_settings(max_examples=150)
@given(route=st.sampled_from((SPEECH, NATIVE)), text=hostile_text, fmt=st.sampled_from(("wav", "wav", "mp3", "pcm")),
       prompt=st.one_of(st.none(), hostile_text))
def test_text_of_any_unicode(target: Target, route: str, text: str, fmt: str, prompt: str | None) -> None:
    """Any text (lone surrogates, controls, RTL, emoji, combining marks) and any prompt: audio or a
    documented 4xx."""
    speak_any(target, route, text, fmt, prompt)


def speak_any(target: Target, route: str, text: str, fmt: str, prompt: str | None) -> None:
    if route == SPEECH:
        body = {"input": text, "voice": "alloy", "response_format": fmt, "instructions": prompt}
    else:
        body = {"text": text, "speaker": "zh-f2", "format": fmt, "prompt": prompt}
    what = f"POST {route} {raw_json(body)[:300]!r}"
    answer = post(target, route, body, what)
    if answer.status == 200:
        check_audio(answer, fmt, what, 24_000 if route == SPEECH else None)


HOSTILE_TEXTS = [
    (SPEECH, "a\ud800b", "wav", None), (NATIVE, "你好\x00世界", "wav", None), (SPEECH, "\udfff", "mp3", "开心"),
    (SPEECH, "e" + "\u0301" * 300, "mp3", "\u202e开心"), (NATIVE, "👨‍👩‍👧‍👦 🏳️‍🌈 \ufeff\uffff", "pcm", "\ud83d"),
    (NATIVE, "\u202eabc\u202c \u200f\u2028\u2029", "wav", None), (SPEECH, "1e309 99999999999999999999999", "wav", None),
]


@pytest.mark.parametrize(("route", "text", "fmt", "prompt"), HOSTILE_TEXTS,
                         ids=[repr(c[1])[:30] for c in HOSTILE_TEXTS])
def test_hostile_text(target: Target, route: str, text: str, fmt: str, prompt: str | None) -> None:
    """The classics of broken text pipelines, always tried (the property above samples them)."""
    speak_any(target, route, text, fmt, prompt)


LONG_TEXTS = [
    ("4096 latin", ("hello world " * 342)[:4096], 200, None),
    ("4096 chinese", ("今天天气真好" * 683)[:4096], 200, None),
    ("4097 latin", "a" * 4097, 413, "input_too_long"),
    ("4097 emoji", "😀" * 4097, 413, "input_too_long"),
    ("4097 surrogates", "\ud800" * 4097, None, None),
    ("4096 combining marks", "e" + "\u0301" * 4095, None, None),
]


@pytest.mark.parametrize(("name", "text", "status", "code"), LONG_TEXTS, ids=[c[0] for c in LONG_TEXTS])
def test_long_text(target: Target, name: str, text: str, status: int | None, code: str | None) -> None:
    """At the documented 4096-character limit: accepted (and spoken) at it, 413 ``input_too_long`` past it."""
    body = {"input": text, "voice": "alloy", "response_format": "wav"}
    what = f"POST {SPEECH} {name}"
    answer = post(target, SPEECH, body, what)
    if status is not None:
        assert answer.status == status, f"{what} -> {answer.status} {answer.excerpt()}"
    if code is not None:
        assert answer.json()["error"]["code"] == code, f"{what} -> {answer.excerpt()}"
    if answer.status == 200:
        check_audio(answer, "wav", what, 24_000)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_sample_rate(target: Target, fmt: str, rate: int, stream: bool) -> None:
    """Every format at every interesting rate of the documented 8000-48000 range: audio at the rate
    ``X-Sample-Rate`` claims; formats that carry any rate must succeed, the others may refuse with a
    sample-rate code."""
    body = {"text": "Hello, 你好. 123.", "speaker": "en-us-f2", "format": fmt, "sample_rate": rate, "stream": stream}
    what = f"POST {NATIVE} {json.dumps(body, ensure_ascii=False)}"
    answer = post(target, NATIVE, body, what)
    if answer.status == 200:
        check_audio(answer, fmt, what)
        if fmt in ANY_RATE_FORMATS and int(answer.headers.get("x-sample-rate", "0")) != rate:
            raise violation(f"{fmt} rate not honoured",
                            f"{what}\n  -> X-Sample-Rate {answer.headers.get('x-sample-rate')}")
        return
    if fmt in ANY_RATE_FORMATS:
        raise violation(f"{fmt} refused a documented rate", f"{what}\n  -> {answer.status} {answer.excerpt()}")
    assert answer.status == 422 and answer.json()["error"]["code"] in SAMPLE_RATE_CODES, (
        f"{what} -> {answer.status} {answer.excerpt()}")


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_openai_route_every_format(target: Target, fmt: str, stream_format: str) -> None:
    """``/v1/audio/speech`` in every format, plain and as server-sent events: 24 kHz audio that decodes
    (SSE: the concatenated ``speech.audio.delta`` payloads form one valid file, README "API")."""
    body = {"input": "Hello there. 你好。", "voice": "nova", "response_format": fmt, "stream_format": stream_format}
    what = f"POST {SPEECH} {json.dumps(body, ensure_ascii=False)}"
    answer = post(target, SPEECH, body, what)
    assert answer.status == 200, f"{what} -> {answer.status} {answer.excerpt()}"
    if stream_format == "sse":
        events = [json.loads(line[5:]) for line in answer.body.decode().splitlines() if line.startswith("data:")]
        assert events and events[-1]["type"] == "speech.audio.done", f"{what}: SSE does not end with done"
        audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
        answer = Answer(200, answer.headers, audio)
    check_audio(answer, fmt, what, 24_000)


@fuzz_settings(max_examples=80)
@given(fmt=st.sampled_from(FORMATS), rate=st.one_of(st.none(), st.integers(8000, 48000)),
       speed=st.floats(0.25, 4.0), stream=st.booleans(), metadata=st.booleans(),
       language=st.sampled_from(("auto", "zh", "en")), emotion=st.one_of(st.none(), hostile_text),
       text=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join))
def test_native_parameters(target: Target, fmt: str, rate: int | None, speed: float, stream: bool,
                           metadata: bool, language: str, emotion: str | None, text: str) -> None:
    """Any schema-valid combination of the native route's parameters: audio (or metadata JSON whose
    base64 audio decodes at its stated rate) or a documented 4xx."""
    body = {"text": text, "speaker": "zh-m1", "format": fmt, "sample_rate": rate, "speed": speed,
            "stream": stream, "metadata": metadata, "language": language, "emotion": emotion}
    what = f"POST {NATIVE} {raw_json(body)[:300]!r}"
    answer = post(target, NATIVE, body, what)
    if answer.status != 200:
        if fmt in ANY_RATE_FORMATS:
            raise violation(f"{fmt} refused valid parameters", f"{what}\n  -> {answer.status} {answer.excerpt()}")
        return
    if metadata:
        meta = answer.json()
        audio = Answer(200, {"x-sample-rate": str(meta["sample_rate"])}, base64.b64decode(meta["audio"]))
        duration = check_audio(audio, fmt, what)
        assert abs(duration - meta["duration_seconds"]) < 0.5, f"{what}: metadata duration {meta['duration_seconds']}"
    else:
        check_audio(answer, fmt, what)


SPEED_LITERALS = [
    ("0.25", 200), ("4.0", 200), ("4", 200), ("1", 200),
    ("0.2499999999", 422), ("4.0000000001", 422), ("0", 422), ("-0.0", 422), ("-1", 422), ("1e-320", 422),
    ("1e308", 422), ("1e309", 422), ("NaN", 422), ("Infinity", 422), ("-Infinity", 422),
    ('"fast"', 422), ("null", 422), ("[]", 422), ("{}", 422),
]


@pytest.mark.parametrize("route", [SPEECH, NATIVE])
@pytest.mark.parametrize(("literal", "status"), SPEED_LITERALS, ids=[s[0] for s in SPEED_LITERALS])
def test_speed_at_and_past_bounds(target: Target, route: str, literal: str, status: int) -> None:
    """Speed is documented as 0.25-4.0: its bounds are accepted; anything else (past the bounds, NaN,
    infinities, the 1e309 that JSON parsers read as infinity, non-numbers) is 422 ``invalid_speed``."""
    if route == SPEECH:
        raw = b'{"input": "Speed test.", "voice": "alloy", "response_format": "wav", "speed": %s}'
    else:
        raw = b'{"text": "Speed test.", "speaker": "zh-f2", "format": "wav", "speed": %s}'
    body = raw % literal.encode()
    what = f"POST {route} {body!r}"
    answer = post(target, route, body, what)
    assert answer.status == status, f"{what} -> {answer.status} {answer.excerpt()}"
    if status == 200:
        check_audio(answer, "wav", what)
    else:
        assert answer.json()["error"]["code"] == "invalid_speed", f"{what} -> {answer.excerpt()}"


def _spoken(target: Target, text: str) -> Answer:
    return post(target, NATIVE, {"text": text, "speaker": "en-us-m1", "format": "wav", "metadata": True})


@fuzz_settings(max_examples=15)
@given(before=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
       after=st.lists(st.sampled_from(("morning", "evening", "wonderful", "beautiful", "everybody", "tomorrow")),
                      min_size=3, max_size=6).map(" ".join))
def test_nul_does_not_truncate(target: Target, before: str, after: str) -> None:
    """``before + NUL + after`` is refused with a 4xx, or spoken whole: clearly longer than ``before``
    alone, about as long as with a space instead of the NUL. (Silently speaking only ``before`` is the
    bug of issue 14: a C string boundary somewhere in the pipeline.)"""
    answer = _spoken(target, f"{before}\x00 {after}")
    if answer.status != 200:
        return  # a documented 4xx (checked by the invariant) is an honest refusal
    with_nul = answer.json()["duration_seconds"]
    alone = _spoken(target, before).json()["duration_seconds"]
    whole = _spoken(target, f"{before} {after}").json()["duration_seconds"]
    if with_nul < alone + 0.5 * (whole - alone):
        raise violation("NUL truncates text", f"{(before + chr(0) + ' ' + after)!r} spoken for {with_nul:.2f} s; "
                        f"{before!r} alone {alone:.2f} s, with a space instead of NUL {whole:.2f} s")

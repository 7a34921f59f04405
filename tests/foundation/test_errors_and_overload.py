"""Bad input gets its documented status and code; overload gets a fast 503 while accepted work finishes."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.audio_check import decode
from tests.conftest import RunningServer, run_server

SPEECH = "/v1/audio/speech"
OK = {"input": "你好", "voice": "alloy", "response_format": "wav"}

CASES: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    # (name, path, request kwargs, status, code, param)
    ("empty input", SPEECH, {"json": {**OK, "input": ""}}, 400, "empty_input", "input"),
    ("whitespace input", SPEECH, {"json": {**OK, "input": "   \n"}}, 400, "empty_input", "input"),
    ("4097 characters", SPEECH, {"json": {**OK, "input": "a" * 4097}}, 413, "input_too_long", "input"),
    ("nothing speakable", SPEECH, {"json": {**OK, "input": "。。。！？"}}, 400, "invalid_text", "input"),
    ("unknown voice", SPEECH, {"json": {**OK, "voice": "darth"}}, 400, "unknown_voice", "voice"),
    ("unknown format", SPEECH, {"json": {**OK, "response_format": "ogg"}}, 422, "unsupported_format",
     "response_format"),
    ("speed 0", SPEECH, {"json": {**OK, "speed": 0}}, 422, "invalid_speed", "speed"),
    ("speed 5", SPEECH, {"json": {**OK, "speed": 5}}, 422, "invalid_speed", "speed"),
    ("speed not a number", SPEECH, {"json": {**OK, "speed": "fast"}}, 422, "invalid_speed", "speed"),
    ("unknown stream format", SPEECH, {"json": {**OK, "stream_format": "ws"}}, 422, "unsupported_stream_format",
     "stream_format"),
    ("missing input", SPEECH, {"json": {"voice": "alloy"}}, 422, "missing_field", "input"),
    ("malformed JSON", SPEECH, {"content": b'{"input": "hi",', "headers": {"content-type": "application/json"}},
     400, "invalid_json", None),
    ("JSON array", SPEECH, {"json": ["input"]}, 400, "invalid_json", None),
    ("wrong content type", SPEECH, {"content": b"input=hi", "headers": {"content-type": "text/plain"}},
     415, "unsupported_media_type", None),
    ("form body", SPEECH, {"data": {"input": "hi", "voice": "alloy"}}, 415, "unsupported_media_type", None),
    ("oversize body", SPEECH, {"json": {**OK, "instructions": "x" * (3 * 1024 * 1024)}}, 413,
     "request_too_large", None),
    ("native unknown field", "/v1/synthesize", {"json": {"text": "hi", "speaker": "zh-f2", "colour": "red"}},
     422, "unknown_field", "colour"),
    ("native bad sample rate", "/v1/synthesize", {"json": {"text": "hi", "speaker": "zh-f2", "sample_rate": 1000}},
     422, "invalid_sample_rate", "sample_rate"),
    ("native unknown speaker", "/v1/synthesize", {"json": {"text": "hi", "speaker": "nobody"}}, 400,
     "unknown_voice", "voice"),
    ("native missing speaker", "/v1/synthesize", {"json": {"text": "hi"}}, 422, "missing_field", "speaker"),
]


@pytest.mark.parametrize(("name", "path", "kwargs", "status", "code", "param"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(espeak_server: RunningServer, name: str, path: str, kwargs: dict[str, Any], status: int,
                   code: str, param: str | None) -> None:
    with espeak_server.client() as http:
        r = http.post(path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"] and error["type"] == "invalid_request_error"


def test_unknown_path_and_method(espeak_server: RunningServer) -> None:
    with espeak_server.client() as http:
        assert http.get("/v2/nothing").json()["error"]["code"] == "not_found"
        r = http.get(SPEECH)
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_sdk_surfaces_error_codes(espeak_server: RunningServer) -> None:
    client = openai.OpenAI(base_url=f"{espeak_server.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as exc:
        client.audio.speech.create(model="tts-1", voice="nobody", input="hello")
    assert exc.value.code == "unknown_voice"


def test_overload_gets_fast_503_while_accepted_requests_complete() -> None:
    long_text = "这是一个用于测试的长句子，我们需要足够多的文字。" * 160  # ~3800 chars: ~1 s of espeak work
    results: dict[str, httpx.Response] = {}

    def call(name: str) -> None:
        results[name] = httpx.post(f"{srv.url}{SPEECH}", json={**OK, "input": long_text[:4000]}, timeout=120)

    with run_server(engine="espeak", workers=1, queue_size=1) as srv:
        accepted = [threading.Thread(target=call, args=(f"a{i}",)) for i in range(2)]
        for t in accepted:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # both admitted: one running, one queued
            if "emotivoice_in_flight_requests 2.0" in httpx.get(f"{srv.url}/metrics").text:
                break
            time.sleep(0.01)
        started = time.monotonic()
        rejected = [httpx.post(f"{srv.url}{SPEECH}", json=OK, timeout=30) for _ in range(3)]
        rejected_seconds = time.monotonic() - started
        for t in accepted:
            t.join(timeout=120)
        metrics = httpx.get(f"{srv.url}/metrics").text

    for r in rejected:
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "overloaded"
    assert rejected_seconds < 5.0  # answered without waiting for the running work (~seconds)
    for name in ("a0", "a1"):
        assert results[name].status_code == 200
        assert decode(results[name].content, "wav").duration > 60
    assert 'emotivoice_synthesis_jobs_total{outcome="rejected"} 3.0' in metrics
    assert 'emotivoice_synthesis_jobs_total{outcome="ok"} 2.0' in metrics


def test_queue_timeout_gives_503() -> None:
    long_text = "这是一个用于测试的长句子，我们需要足够多的文字。" * 160
    out: list[httpx.Response] = []
    with run_server(engine="espeak", workers=1, queue_size=1, queue_timeout_seconds=0.2) as srv:
        t = threading.Thread(target=lambda: out.append(
            httpx.post(f"{srv.url}{SPEECH}", json={**OK, "input": long_text[:4000]}, timeout=60)))
        t.start()
        deadline = time.monotonic() + 10
        while "emotivoice_in_flight_requests 1.0" not in httpx.get(f"{srv.url}/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        queued = httpx.post(f"{srv.url}{SPEECH}", json=OK, timeout=30)
        t.join(timeout=60)
    assert queued.status_code == 503 and queued.json()["error"]["code"] == "queue_timeout"
    assert out[0].status_code == 200

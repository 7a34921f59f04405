"""Issue 14, Found 7-8: one documented answer per failure, never a 500 for what a client sent."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path

import httpx

from function.events import types as t
from tests.audio_check import decode
from tests.conftest import RunningServer, run_server
from tests.events.test_cloudevents import event, reply_of, send


def _raw(srv: RunningServer, request: bytes, timeout: float = 20) -> bytes:
    """Send raw bytes (no client normalisation) while reading the answer: a server that answers and
    closes before the whole request is sent must still be heard."""
    host, port = srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        def push() -> None:
            try:
                s.sendall(request)
            except OSError:
                pass  # the server answered early and closed: fine

        sender = threading.Thread(target=push, daemon=True)
        sender.start()
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        sender.join(timeout=timeout)
    return data


def test_text_with_nul_or_lone_surrogates_is_refused_not_truncated(espeak_server: RunningServer) -> None:
    nul = httpx.post(f"{espeak_server.url}/v1/audio/speech", json={"input": "hello\u0000 world", "voice": "alloy"})
    lone = httpx.post(f"{espeak_server.url}/v1/audio/speech", headers={"content-type": "application/json"},
                      content=b'{"input": "hi \\ud800 there", "voice": "alloy"}')
    for r in (nul, lone):
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_text"


def test_every_format_accepts_every_sample_rate(espeak_server: RunningServer) -> None:
    for fmt in ("mp3", "aac", "opus", "flac", "wav"):
        for rate in (8001, 22051, 47999):
            r = httpx.post(f"{espeak_server.url}/v1/synthesize", timeout=60,
                           json={"text": "hi", "speaker": "alloy", "format": fmt, "sample_rate": rate})
            assert r.status_code == 200, (fmt, rate, r.text)
            assert int(r.headers["x-sample-rate"]) >= rate
            assert decode(r.content, fmt).duration > 0.1


def test_framing_and_header_abuse_get_documented_answers(espeak_server: RunningServer) -> None:
    big = b"X-Big: " + b"a" * 1_000_000 + b"\r\n"
    huge_headers = _raw(espeak_server, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert huge_headers.startswith(b"HTTP/1.1 431") or huge_headers.startswith(b"HTTP/1.1 400"), huge_headers[:80]
    latin = _raw(espeak_server, b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\xff\xfe"
                 b"\r\nContent-Length: 2\r\n\r\n{}")
    assert latin.startswith(b"HTTP/1.1 415"), latin[:80]
    chunks = b"".join(b"%x\r\n%s\r\n" % (65536, b"a" * 65536) for _ in range(40)) + b"0\r\n\r\n"
    chunked = _raw(espeak_server, b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert chunked.startswith(b"HTTP/1.1 413") and b"request_too_large" in chunked, chunked[:200]


def test_short_body_is_answered_not_waited_for(tmp_path: Path) -> None:
    with run_server(engine="espeak", storage_dir=tmp_path, body_timeout_seconds=1) as srv:
        short = _raw(srv, b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"input\"", timeout=15)
    assert short.startswith(b"HTTP/1.1 408") and b"request_timeout" in short, short[:200]


def test_deeply_nested_event_is_a_400(espeak_server: RunningServer) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"specversion":"1.0","id":"n1","source":"/t","type":"' + t.SYNTHESIS_REQUESTED + '","data":' + nested + "}"
    r = httpx.post(f"{espeak_server.url}/", headers={"content-type": "application/cloudevents+json"}, content=body)
    assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_cloudevent", "invalid_event_data")


def test_event_id_reused_for_other_content_is_a_permanent_conflict(tmp_path: Path) -> None:
    same_id = uuid.uuid4().hex
    with run_server(engine="espeak", storage_dir=tmp_path) as srv:
        first = reply_of(send(srv, event({"text": "第一条。"}, id_=same_id)))
        again = reply_of(send(srv, event({"text": "第一条。"}, id_=same_id)))
        other = reply_of(send(srv, event({"text": "完全不同的第二条。"}, id_=same_id)))
    assert first.get_type() == again.get_type() == t.SYNTHESIS_COMPLETED
    assert first.get_id() == again.get_id()
    assert other.get_type() == t.SYNTHESIS_FAILED
    assert other.get_data()["code"] == "event_id_conflict"  # type: ignore[index]


def test_malformed_json_shapes_never_500(espeak_server: RunningServer) -> None:
    for body in ("[]", "null", "1", '{"input": {"a": 1}, "voice": "alloy"}', json.dumps({"input": "x" * 10})):
        r = httpx.post(f"{espeak_server.url}/v1/audio/speech", headers={"content-type": "application/json"},
                       content=body)
        assert r.status_code < 500, (body, r.status_code, r.text)

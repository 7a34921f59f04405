"""Custom voices over the real API: create (upload, s3:// reference, OpenAI SDK), reuse by hash, use in all
four interfaces (OpenAI speech, native, CloudEvents, batches), delete, every refused input with its code and
nothing left behind, names, the per-caller limit and the write scope.

One server for the module (espeak engine, SeaweedFS, JWT auth): each test is its own caller (its own JWT
``sub``), so voices and limits never mix between tests.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from function.events import types as t
from tests.audio_check import decode
from tests.conftest import RunningServer
from tests.voices.conftest import (
    MAX_PER_SUBJECT,
    TEXTS,
    auth,
    clip,
    encode,
    listed,
    speak,
    token,
    upload,
)
from testkit.s3_server import S3Server

PREFIX = "voices-test/"


def owner_keys(s3: S3Server, sub: str) -> list[str]:
    """Every stored object of a caller's custom voices (records and kept clips)."""
    owner8 = hashlib.sha256(f"sub:{sub}".encode()).hexdigest()[:8]
    return s3.keys(f"{PREFIX}voices/{owner8}/")


def new_caller() -> tuple[str, str]:
    sub = f"user-{uuid.uuid4().hex[:10]}"
    return sub, token(sub)


@pytest.fixture(scope="module")
def reference() -> bytes:
    return clip("en-us-m3", 0)


def test_create_reuse_use_everywhere_and_delete(voices_server: RunningServer, voices_s3: S3Server,
                                                reference: bytes) -> None:
    srv = voices_server
    sub, bearer = new_caller()
    r = upload(srv, bearer, reference, name="Narrator")
    assert r.status_code == 201, r.text
    voice = r.json()
    vid = voice["id"]
    assert vid.startswith("cv-") and r.headers["location"] == f"/v1/audio/voices/{vid}"
    assert voice["object"] == "audio.voice" and voice["type"] == "audio_sample" and voice["name"] == "Narrator"
    assert voice["engine"] == "espeak" and voice["blended"] is False and voice["reused"] is False
    assert voice["matches"][0]["voice"] == voice["spoken_as"] == "en-us-m3"  # matched back to its variant
    assert abs(sum(m["weight"] for m in voice["matches"]) - 1.0) < 1e-9
    assert voice["reference"]["sha256"] == hashlib.sha256(reference).hexdigest()
    assert 3 <= voice["reference"]["speech_seconds"] <= 30 and voice["reference"]["uri"] is None

    # Same clip, same caller: the same voice, found by its hash (200, reused), whatever the name.
    again = upload(srv, bearer, reference, name="Another name")
    assert again.status_code == 200 and again.json()["id"] == vid and again.json()["reused"] is True

    mine = listed(srv, bearer)
    assert [v["id"] for v in mine] == [vid] and mine[0]["matches"][0]["voice"] == "en-us-m3"
    everything = httpx.get(f"{srv.url}/v1/audio/voices", headers=auth(bearer)).json()["data"]
    assert everything[0]["id"] == vid and any(v["id"] == "en-us-m3" and not v["custom"] for v in everything)

    spoken_as = voice["spoken_as"]
    # 1. OpenAI speech, by id string and by {"id": ...}.
    for ref in (vid, {"id": vid}):
        r = httpx.post(f"{srv.url}/v1/audio/speech", headers=auth(bearer), timeout=60,
                       json={"input": "Hello from a matched voice.", "voice": ref, "response_format": "wav"})
        assert r.status_code == 200, r.text
        assert r.headers["x-voice"] == spoken_as  # espeak cannot blend: the voice that spoke is named
        assert decode(r.content, "wav").rms > 0.01
    # 2. Native API: spoken as the built-in voice (espeak: the heaviest match). espeak itself varies by a few
    # samples between runs, so the exact-parity check is on the engine's request (test_service.py).
    native = {"text": "Hello from a matched voice.", "format": "wav"}
    custom = httpx.post(f"{srv.url}/v1/synthesize", headers=auth(bearer), json={**native, "speaker": vid}, timeout=60)
    builtin = httpx.post(f"{srv.url}/v1/synthesize", headers=auth(bearer), json={**native, "speaker": spoken_as},
                         timeout=60)
    assert custom.status_code == builtin.status_code == 200
    assert custom.headers["x-voice"] == builtin.headers["x-voice"] == spoken_as
    assert abs(decode(custom.content, "wav").duration - decode(builtin.content, "wav").duration) < 0.05
    meta = httpx.post(f"{srv.url}/v1/synthesize", headers=auth(bearer), timeout=60,
                      json={**native, "speaker": vid, "metadata": True}).json()
    assert meta["voice"] == spoken_as
    # 3. CloudEvents.
    event = CloudEvent(attributes={"type": t.SYNTHESIS_REQUESTED, "source": "/tests/voices", "id": uuid.uuid4().hex,
                                   "specversion": "1.0", "datacontenttype": "application/json"},
                       data={"text": "An event in a custom voice.", "voice": vid, "format": "wav"})
    message = to_binary(event, JSONFormat())
    r = httpx.post(f"{srv.url}/", headers={**message.headers, "Prefer": "reply"}, content=message.body, timeout=60)
    assert r.status_code == 200, r.text
    reply = from_http(HTTPMessage(headers=dict(r.headers), body=r.content), JSONFormat())
    assert reply.get_type() == t.SYNTHESIS_COMPLETED and reply.get_data()["voice"] == spoken_as  # type: ignore[index]
    # 4. Batches: the batch default and a recipient's own voice.
    r = httpx.post(f"{srv.url}/v1/batches", headers=auth(bearer), timeout=60, json={
        "template": "Happy new year, {name}!", "voice": vid, "format": "wav",
        "recipients": [{"id": "a", "name": "Alice"}, {"id": "b", "name": "Bob", "voice": vid}]})
    assert r.status_code == 202, r.text
    status = _wait_batch(srv, bearer, r.json()["id"])
    assert status["ok"] == 2 and status["failed"] == 0
    key = status["manifest_uri"].split("/", 3)[3]
    lines = voices_s3.client().get_object(Bucket=voices_s3.bucket, Key=key)["Body"].read().decode().splitlines()
    assert [json.loads(line)["voice"] for line in lines] == [spoken_as, spoken_as]

    # Delete: gone from the list, from storage and from synthesis; a second delete is a 404.
    r = httpx.delete(f"{srv.url}/v1/audio/voices/{vid}", headers=auth(bearer))
    assert r.status_code == 200 and r.json() == {"id": vid, "object": "audio.voice.deleted", "deleted": True}
    assert listed(srv, bearer) == [] and owner_keys(voices_s3, sub) == []
    r = httpx.post(f"{srv.url}/v1/audio/speech", headers=auth(bearer), json={"input": "hi", "voice": vid})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_voice"
    r = httpx.delete(f"{srv.url}/v1/audio/voices/{vid}", headers=auth(bearer))
    assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found"


def _wait_batch(srv: RunningServer, bearer: str, batch_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{srv.url}/v1/batches/{batch_id}", headers=auth(bearer))
        if r.status_code == 200 and r.json()["status"] == "completed":
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"batch not completed: {r.text}")


def test_voices_belong_to_their_caller(voices_server: RunningServer, reference: bytes) -> None:
    """The same clip from another caller is another voice; a caller cannot list or delete another's voice
    (404, as for an unknown id), though anyone holding an id may speak with it."""
    _, alice = new_caller()
    _, bob = new_caller()
    a = upload(voices_server, alice, reference).json()
    b = upload(voices_server, bob, reference).json()
    assert a["id"] != b["id"] and a["reference"]["sha256"] == b["reference"]["sha256"]
    assert [v["id"] for v in listed(voices_server, bob)] == [b["id"]]
    r = httpx.delete(f"{voices_server.url}/v1/audio/voices/{a['id']}", headers=auth(bob))
    assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found"
    r = httpx.post(f"{voices_server.url}/v1/audio/speech", headers=auth(bob), json={"input": "hi", "voice": a["id"]})
    assert r.status_code == 200


def test_openai_sdk_creates_speaks_and_deletes(voices_server: RunningServer) -> None:
    from openai import OpenAI

    _, bearer = new_caller()
    client = OpenAI(base_url=f"{voices_server.url}/v1", api_key=bearer, max_retries=0)
    data = clip("zh-f4", 1, "FLAC")
    created = client.audio.voices.create(audio_sample=("clip.flac", data, "audio/flac"), consent="cons_test",
                                         name="SDK voice")
    assert created.id.startswith("cv-") and created.name == "SDK voice" and created.type == "audio_sample"
    speech = client.audio.speech.create(model="tts-1", voice={"id": created.id}, input="你好，世界。",
                                        response_format="wav")
    assert decode(speech.read(), "wav").rms > 0.01
    deleted = client.audio.voices.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id


def test_s3_reference_kept_clip_and_foreign_references(voices_server: RunningServer, voices_s3: S3Server) -> None:
    sub, bearer = new_caller()
    data = clip("en-gb-f3", 1, "OGG")
    key = f"uploads/{uuid.uuid4().hex}.ogg"
    voices_s3.client().put_object(Bucket=voices_s3.bucket, Key=key, Body=data)
    r = httpx.post(f"{voices_server.url}/v1/audio/voices", headers=auth(bearer), timeout=120, json={
        "name": "From S3", "audio_uri": f"s3://{voices_s3.bucket}/{key}", "keep_reference": True})
    assert r.status_code == 201, r.text
    voice = r.json()
    assert voice["reference"]["format"] == "ogg" and voice["matches"][0]["voice"] == "en-gb-f3"
    kept = voice["reference"]["uri"]
    assert kept and kept.startswith(f"s3://{voices_s3.bucket}/{PREFIX}voices/")
    assert len(owner_keys(voices_s3, sub)) == 2  # the record and the kept clip
    assert httpx.delete(f"{voices_server.url}/v1/audio/voices/{voice['id']}", headers=auth(bearer)).status_code == 200
    assert owner_keys(voices_s3, sub) == []

    for uri, status, code in ((f"s3://another-bucket/{key}", 403, "reference_forbidden"),
                              ("https://example.com/clip.wav", 400, "invalid_reference"),
                              (f"s3://{voices_s3.bucket}/uploads/missing.wav", 404, "object_not_found")):
        r = httpx.post(f"{voices_server.url}/v1/audio/voices", headers=auth(bearer),
                       json={"name": "Elsewhere", "audio_uri": uri})
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert owner_keys(voices_s3, sub) == []


def _long_speech() -> bytes:
    parts = [speak("en-us-m1", text)[0] for text in TEXTS["en"] * 4]
    pcm = np.concatenate(parts)
    return encode(pcm, 22050)


BAD_INPUTS: dict[str, tuple[Any, int, str]] = {
    # name: (clip bytes, or a callable making them; status; code)
    "not_audio": (b"this is a text file, not a recording\n" * 20, 415, "not_audio"),
    "aac_is_not_accepted": (b"\xff\xf1\x50\x80" + bytes(400), 415, "not_audio"),
    "corrupt_flac": (b"fLaC" + bytes(range(256)) * 8, 400, "corrupt_audio"),
    "corrupt_wav": (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 64, 400, "corrupt_audio"),
    "silent": (lambda: encode(np.zeros(16000 * 5, np.float32), 16000), 422, "audio_silent"),
    "too_short": (lambda: encode(*speak("en-us-f2", "Hello there.")), 422, "audio_too_short"),
    "too_long": (_long_speech, 422, "audio_too_long"),
    "rate_too_low": (lambda: encode(np.zeros(4000 * 4, np.float32) + 0.1, 4000), 422, "unsupported_audio"),
    "three_channels": (lambda: encode(np.full((22050 * 4, 3), 0.1, np.float32), 22050), 422, "unsupported_audio"),
    "over_clip_cap": (lambda: b"RIFF" + bytes(4 * 1024 * 1024 + 10), 413, "audio_too_large"),
    "over_body_cap": (lambda: b"RIFF" + bytes(4 * 1024 * 1024 + 200 * 1024), 413, "request_too_large"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_clips_are_refused_with_their_code_and_leave_nothing(voices_server: RunningServer,
                                                                 voices_s3: S3Server, case: str) -> None:
    sub, bearer = new_caller()
    data, status, code = BAD_INPUTS[case]
    r = upload(voices_server, bearer, data() if callable(data) else data)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert listed(voices_server, bearer) == [] and owner_keys(voices_s3, sub) == []


def test_bad_requests(voices_server: RunningServer, reference: bytes) -> None:
    _, bearer = new_caller()
    url = f"{voices_server.url}/v1/audio/voices"
    cases = [
        (dict(data={"name": "No file"}), 400, "missing_audio"),
        (dict(files={"audio_sample": ("a.wav", reference)}, data={"name": "   "}), 400, "invalid_name"),
        (dict(files={"audio_sample": ("a.wav", reference)}, data={"name": "x" * 65}), 400, "invalid_name"),
        (dict(files={"audio_sample": ("a.wav", reference)}, data={"name": "P", "type": "prompt"}), 400,
         "unsupported_voice_type"),
        (dict(json={"name": "P", "prompt": "a warm voice", "type": "prompt"}), 400, "unsupported_voice_type"),
        (dict(json={"name": "No clip"}), 422, None),
        (dict(content=b"raw bytes", headers={"content-type": "audio/wav"}), 415, "unsupported_media_type"),
    ]
    for kwargs, status, code in cases:
        headers = {**auth(bearer), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        r = httpx.post(url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, (kwargs, r.text)
        if code:
            assert r.json()["error"]["code"] == code
    assert listed(voices_server, bearer) == []


def test_name_clash_and_per_caller_limit(voices_server: RunningServer, voices_s3: S3Server) -> None:
    sub, bearer = new_caller()
    clips = [clip(v, i) for v, i in (("en-us-f2", 0), ("en-us-f4", 1), ("zh-m1", 2), ("en-us-m7", 2))]
    assert upload(voices_server, bearer, clips[0], name="Alpha").status_code == 201
    r = upload(voices_server, bearer, clips[1], name="alpha")  # names compare case-insensitively
    assert (r.status_code, r.json()["error"]["code"]) == (409, "voice_name_taken")
    for data, name in zip(clips[1:MAX_PER_SUBJECT], ("Beta", "Gamma")):
        assert upload(voices_server, bearer, data, name=name).status_code == 201
    r = upload(voices_server, bearer, clips[3], name="Delta")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "voice_limit_reached")
    assert [v["name"] for v in listed(voices_server, bearer)] == ["Alpha", "Beta", "Gamma"]
    assert len(owner_keys(voices_s3, sub)) == MAX_PER_SUBJECT


def test_creating_and_deleting_need_the_write_scope(voices_server: RunningServer, reference: bytes) -> None:
    reader = token(scope="voices synthesize")
    r = upload(voices_server, reader, reference)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert 'scope="voices:write"' in r.headers["www-authenticate"]
    r = httpx.delete(f"{voices_server.url}/v1/audio/voices/cv-000000000000000000000000", headers=auth(reader))
    assert r.status_code == 403
    assert httpx.get(f"{voices_server.url}/v1/audio/voices", headers=auth(reader)).status_code == 200
    writer_only = token(scope="voices:write")
    assert httpx.get(f"{voices_server.url}/v1/audio/voices", headers=auth(writer_only)).status_code == 403

"""CloudEvents through the cloudevents SDK against a real server writing to a real S3 (SeaweedFS)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any

import httpx
from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from function.events import types as t
from tests.audio_check import decode
from tests.conftest import RunningServer, run_server
from tests.events.conftest import s3_settings
from testkit.s3_server import S3Server


def event(data: Any, type_: str = t.SYNTHESIS_REQUESTED, id_: str | None = None,
          source: str = "/tests/campaign") -> CloudEvent:
    return CloudEvent(attributes={"type": type_, "source": source, "id": id_ or uuid.uuid4().hex,
                                  "specversion": "1.0", "datacontenttype": "application/json"}, data=data)


def send(srv: RunningServer, ev: CloudEvent, structured: bool = False, timeout: float = 120) -> httpx.Response:
    message = (to_structured if structured else to_binary)(ev, JSONFormat())
    return httpx.post(f"{srv.url}/", headers={**message.headers, "Prefer": "reply"}, content=message.body,
                      timeout=timeout)


def reply_of(r: httpx.Response) -> CloudEvent:
    assert r.status_code == 200, r.text
    return from_http(HTTPMessage(headers=dict(r.headers), body=r.content), JSONFormat())  # type: ignore[return-value]


def test_binary_event_synthesises_uploads_and_replies(s3_server: RunningServer, s3: S3Server) -> None:
    ev = event({"text": "新年快乐！Happy new year.", "voice": "nova", "emotion": "开心", "format": "mp3"})
    r = send(s3_server, ev)
    rep = reply_of(r)
    assert rep.get_type() == t.SYNTHESIS_COMPLETED
    assert rep.get_source() == s3_server.settings.event_source
    assert rep.get_subject() == ev.get_id()
    data = rep.get_data()
    assert isinstance(data, dict)
    assert data["request"] == {"source": ev.get_source(), "id": ev.get_id()}
    assert data["uri"].startswith(f"s3://{s3.bucket}/{s3_server.settings.s3_prefix}events/")
    assert data["voice"] == "en-us-f2" and data["emotion"] == "happy"
    audio = httpx.get(data["url"]).content  # the presigned URL works without credentials
    assert hashlib.sha256(audio).hexdigest() == data["checksum"]
    assert data["bytes"] == len(audio) and data["content_type"] == "audio/mpeg"
    assert abs(decode(audio, "mp3").duration - data["duration_seconds"]) < 0.3
    key = data["uri"].split("/", 3)[3]
    head = s3.client().head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentType"] == "audio/mpeg"
    meta = head["Metadata"]
    assert meta["voice"] == "en-us-f2" and meta["emotion"] == "happy"
    assert meta["text-sha256"] == hashlib.sha256("新年快乐！Happy new year.".encode()).hexdigest()


def test_structured_event(s3_server: RunningServer) -> None:
    rep = reply_of(send(s3_server, event({"text": "你好", "format": "wav"}), structured=True))
    assert rep.get_type() == t.SYNTHESIS_COMPLETED
    assert decode(httpx.get(rep.get_data()["url"]).content, "wav").rms > 0.01  # type: ignore[index]


def test_redelivery_gives_one_object_and_the_same_reply(s3_server: RunningServer, s3: S3Server) -> None:
    ev = event({"text": "重复投递只合成一次。", "format": "mp3"})
    replies = [send(s3_server, ev) for _ in range(3)]
    prefix = f"{s3_server.settings.s3_prefix}events/"
    assert len(s3.keys(prefix)) == 1
    first = reply_of(replies[0])
    for r in replies[1:]:
        again = reply_of(r)
        assert again.get_id() == first.get_id()
        assert again.get_data()["checksum"] == first.get_data()["checksum"]  # type: ignore[index]
        assert again.get_data()["uri"] == first.get_data()["uri"]  # type: ignore[index]
    metrics = httpx.get(f"{s3_server.url}/metrics").text
    assert 'emotivoice_synthesis_jobs_total{outcome="ok"} 1.0' in metrics  # synthesised once


def test_concurrent_duplicates_synthesise_once(s3_server: RunningServer, s3: S3Server) -> None:
    ev = event({"text": "并发的重复事件。" * 30, "format": "mp3"})
    out: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: out.append(send(s3_server, ev))) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({reply_of(r).get_data()["checksum"] for r in out}) == 1  # type: ignore[index]
    assert len(s3.keys(f"{s3_server.settings.s3_prefix}events/")) == 1
    assert 'emotivoice_synthesis_jobs_total{outcome="ok"} 1.0' in httpx.get(f"{s3_server.url}/metrics").text


def test_permanent_errors_reply_with_failed_event(s3_server: RunningServer) -> None:
    for data, code in (({"text": "hi", "voice": "nobody"}, "unknown_voice"),
                       ({"text": ""}, "invalid_event_data"),
                       ({"text": "。。。"}, "invalid_text"),
                       ({"text": "a" * 5000}, "input_too_long"),
                       ({"text": "hi", "speed": 9}, "invalid_event_data")):
        rep = reply_of(send(s3_server, event(data)))
        assert rep.get_type() == t.SYNTHESIS_FAILED
        assert rep.get_data()["code"] == code  # type: ignore[index]


def test_malformed_events_get_clear_4xx(s3_server: RunningServer) -> None:
    good = to_binary(event({"text": "hi"}), JSONFormat())
    headers = dict(good.headers)
    cases = {
        "missing ce-id": ({k: v for k, v in headers.items() if k != "ce-id"}, good.body, 400, "invalid_cloudevent"),
        "wrong specversion": ({**headers, "ce-specversion": "0.3"}, good.body, 400, "unsupported_specversion"),
        "non-JSON data": (headers, b"{not json", 400, "invalid_event_data"),
        "JSON but not an object": (headers, b"[1, 2]", 400, "invalid_event_data"),
        "text data": ({**headers, "content-type": "text/plain"}, b"hello", 415, "unsupported_data_content_type"),
        "unknown type": ({**headers, "ce-type": "com.example.other"}, good.body, 400, "unsupported_event_type"),
        "oversize body": (headers, b'{"text": "' + b"a" * (3 * 1024 * 1024) + b'"}', 413, "request_too_large"),
        "structured not JSON": ({"content-type": "application/cloudevents+json"}, b"nope", 400, "invalid_cloudevent"),
        "no event at all": ({"content-type": "application/json"}, b"{}", 415, "not_a_cloudevent"),
    }
    for name, (h, body, status, code) in cases.items():
        r = httpx.post(f"{s3_server.url}/", headers=h, content=body, timeout=30)
        assert r.status_code == status, (name, r.text)
        assert r.json()["error"]["code"] == code, name
    assert 'emotivoice_events_total{outcome="rejected"' in httpx.get(f"{s3_server.url}/metrics").text


def test_storage_outage_mid_request_is_retryable_and_leaves_nothing(private_s3: S3Server) -> None:
    long_text = "存储在合成过程中宕机，请求必须可以重试。" * 180
    ev = event({"text": long_text[:4000], "format": "mp3"})
    with run_server(**s3_settings(private_s3, queue_timeout_seconds=5)) as srv:
        result: list[httpx.Response] = []
        th = threading.Thread(target=lambda: result.append(send(srv, ev)))
        th.start()
        time.sleep(0.3)  # synthesis of ~4000 characters is under way
        private_s3.stop()
        th.join(timeout=120)
        r = result[0]
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]
        assert r.json()["error"]["code"] in ("storage_unavailable", "storage_misconfigured")
        private_s3.start()  # same data directory: what was written before the outage is still there
        assert private_s3.keys(srv.settings.s3_prefix) == []  # nothing half-written
        again = reply_of(send(srv, ev))  # the broker's redelivery now succeeds
        assert again.get_type() == t.SYNTHESIS_COMPLETED


def test_readiness_reports_missing_bucket_and_bad_credentials(s3: S3Server, monkeypatch: Any) -> None:
    with run_server(wait_ready=False, **s3_settings(s3, s3_bucket="no-such-bucket")) as srv:
        r = srv.readiness_after_load()
        assert r.status_code == 503 and "no-such-bucket" in r.json()["error"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with run_server(wait_ready=False, **s3_settings(s3)) as srv:
        r = srv.readiness_after_load()
        assert r.status_code == 503 and "refused access" in r.json()["error"]


def test_text_by_s3_uri_and_missing_input(s3_server: RunningServer, s3: S3Server) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="inputs/script.txt", Body="来自对象存储的文本。".encode())
    rep = reply_of(send(s3_server, event({"text_uri": f"s3://{s3.bucket}/inputs/script.txt", "format": "wav"})))
    assert rep.get_type() == t.SYNTHESIS_COMPLETED
    assert decode(httpx.get(rep.get_data()["url"]).content, "wav").duration > 1.0  # type: ignore[index]
    missing = reply_of(send(s3_server, event({"text_uri": f"s3://{s3.bucket}/inputs/nothing.txt"})))
    assert missing.get_type() == t.SYNTHESIS_FAILED and missing.get_data()["code"] == "input_not_found"  # type: ignore[index]
    both = reply_of(send(s3_server, event({"text": "hi", "text_uri": "s3://x/y"})))
    assert both.get_data()["code"] == "invalid_event_data"  # type: ignore[index]


def test_large_output_uploads_in_multipart(s3: S3Server) -> None:
    text = "这是一段很长的文字，用来生成一个超过五兆字节的音频文件。" * 130  # ~3600 chars, minutes of audio
    with run_server(**s3_settings(s3, multipart_threshold_bytes=5 * 1024 * 1024)) as srv:
        rep = reply_of(send(srv, event({"text": text[:4000], "format": "wav"})))
    data = rep.get_data()
    assert isinstance(data, dict) and data["bytes"] > 8 * 1024 * 1024  # more than one 8 MiB part
    head = s3.client().head_object(Bucket=s3.bucket, Key=data["uri"].split("/", 3)[3])
    assert "-" in head["ETag"]  # a multipart ETag: md5-of-parts "-" part count
    audio = httpx.get(data["url"]).content
    assert hashlib.sha256(audio).hexdigest() == data["checksum"]

"""Batch greetings: one event or POST -> many greetings in S3, a manifest, resume after a crash, fan-out."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from function.events import types as t
from tests.conftest import RunningServer, free_port, run_server
from tests.events.conftest import s3_settings
from tests.events.test_cloudevents import event, reply_of, send
from testkit.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from testkit.server_process import ServerProcess

TEMPLATE = "{name}，新年快乐！祝你在{city}万事如意。"


def recipients(n: int, bad: set[int] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    out = []
    for i in range(n):
        r: dict[str, Any] = {"id": f"r{i:04d}", "name": f"朋友{i}", "fields": {"city": "杭州"}}
        if i in bad:
            r["fields"] = {}  # the template needs {city}: this recipient fails, the batch goes on
        out.append(r)
    return out


def wait_for(srv_url: str, batch_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{srv_url}/v1/batches/{batch_id}")
        if r.status_code == 200 and r.json()["status"] == "completed":
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"batch not completed: {httpx.get(f'{srv_url}/v1/batches/{batch_id}').text}")


def manifest(s3: S3Server, uri: str) -> list[dict[str, Any]]:
    key = uri.split("/", 3)[3]
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line]


def test_batch_event_of_50_with_one_invalid_recipient(s3_server: RunningServer, s3: S3Server) -> None:
    ev = event({"template": TEMPLATE, "recipients": recipients(50, bad={17}), "voice": "marin", "emotion": "开心"},
               type_=t.BATCH_REQUESTED)
    rep = reply_of(send(s3_server, ev, timeout=300))
    assert rep.get_type() == t.BATCH_COMPLETED
    batch = rep.get_data()["batch"]  # type: ignore[index]
    assert (batch["total"], batch["ok"], batch["failed"], batch["status"]) == (50, 49, 1, "completed")
    lines = manifest(s3, batch["manifest_uri"])
    assert [line["id"] for line in lines] == [f"r{i:04d}" for i in range(50)]
    assert lines[17]["status"] == "failed" and lines[17]["error_code"] == "template_field_missing"
    assert all(line["status"] == "ok" and line["uri"].startswith("s3://") for i, line in enumerate(lines) if i != 17)
    audio_keys = s3.keys(f"{s3_server.settings.s3_prefix}batches/{batch['id']}/audio/")
    assert len(audio_keys) == 49
    head = s3.client().head_object(Bucket=s3.bucket, Key=audio_keys[0])
    assert head["Metadata"]["batch-id"] == batch["id"] and head["Metadata"]["emotion"] == "happy"


def test_http_batch_runs_in_background_and_reports_progress(s3: S3Server) -> None:
    with run_server(**s3_settings(s3, batch_chunk_size=10, batch_max_recipients=40)) as srv:
        body = {"batch_id": f"b{uuid.uuid4().hex[:8]}", "template": TEMPLATE, "recipients": recipients(30)}
        r = httpx.post(f"{srv.url}/v1/batches", json=body)
        assert r.status_code == 202 and r.headers["location"] == f"/v1/batches/{body['batch_id']}"
        assert r.json()["total"] == 30 and r.json()["chunks"] == 3
        done = wait_for(srv.url, body["batch_id"])
        assert (done["ok"], done["failed"], done["chunks_complete"]) == (30, 0, 3)
        assert len(manifest(s3, done["manifest_uri"])) == 30
        # bad batch requests
        too_many = httpx.post(f"{srv.url}/v1/batches", json={**body, "batch_id": "big", "recipients": recipients(41)})
        assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "batch_too_large"
        conflict = httpx.post(f"{srv.url}/v1/batches", json={**body, "template": "{name}!"})
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "batch_conflict"
        bad_template = httpx.post(f"{srv.url}/v1/batches", json={**body, "batch_id": "x1", "template": "{name.__class__}"})
        assert bad_template.status_code == 422
        dup = httpx.post(f"{srv.url}/v1/batches", json={**body, "batch_id": "x2", "recipients": recipients(2) * 2})
        assert dup.status_code == 422
        missing = httpx.get(f"{srv.url}/v1/batches/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_batch"


def _spawn(port: int, s3: S3Server, prefix: str) -> ServerProcess:
    """A real server process on ``port`` (the same one after a restart), ready, writing to S3 under ``prefix``."""
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "EMOTIVOICE_ENGINE": "espeak", "EMOTIVOICE_STORAGE": "s3", "EMOTIVOICE_S3_ENDPOINT": s3.endpoint,
           "EMOTIVOICE_S3_BUCKET": s3.bucket, "EMOTIVOICE_S3_PREFIX": prefix, "EMOTIVOICE_BATCH_CHUNK_SIZE": "10",
           "EMOTIVOICE_WORKERS": "1", "EMOTIVOICE_LOG_LEVEL": "WARNING"}
    server = ServerProcess(env, port, ready_timeout=60).start()
    server.wait_ready()
    return server


def test_crash_mid_batch_resumes_without_redoing_finished_items(s3: S3Server) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}/"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    long_name = "一位非常重要的老朋友" * 6  # longer greetings: the batch takes a few seconds
    body = {"batch_id": "festival", "template": "{name}，新年快乐！" * 3,
            "recipients": [{"id": f"r{i:03d}", "name": f"{long_name}{i}"} for i in range(40)]}
    proc = _spawn(port, s3, prefix)
    try:
        assert httpx.post(f"{url}/v1/batches", json=body).status_code == 202
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/batches/festival").json()["done"] < 8:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.kill()  # a crash, not a graceful stop
    audio_prefix = f"{prefix}batches/festival/audio/"
    client = s3.client()
    before = {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=s3.bucket, Prefix=audio_prefix)["Contents"]}
    assert 8 <= len(before) < 40, "the crash should land mid-batch"
    proc = _spawn(port, s3, prefix)
    try:
        assert httpx.post(f"{url}/v1/batches", json=body).status_code == 202  # resume: same batch again
        done = wait_for(url, "festival")
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        proc.stop()
    assert (done["ok"], done["failed"]) == (40, 0)
    after = {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=s3.bucket, Prefix=audio_prefix)["Contents"]}
    assert len(after) == 40
    assert all(after[k] == v for k, v in before.items()), "finished greetings were rewritten"
    redone = 40 - len(before)
    assert f'emotivoice_synthesis_jobs_total{{outcome="ok"}} {float(redone)}' in metrics  # only the missing ones


class LoopbackBroker:
    """Stands in for the Knative Kafka broker, which cannot run here: accepts events the function
    publishes (K_SINK), delivers each to the function's ingress with Prefer: reply, and records replies."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.replies: list[httpx.Response] = []
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                broker.inbox.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliver_all(self, target: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                headers, body = self.inbox.get(timeout=2)
            except queue.Empty:
                return
            keep = {k: v for k, v in headers.items() if k.startswith("ce-") or k == "content-type"}
            self.replies.append(httpx.post(target, headers={**keep, "Prefer": "reply"}, content=body, timeout=120))

    def close(self) -> None:
        self.server.shutdown()


def test_large_batch_fans_out_as_chunk_events_through_the_broker(s3: S3Server) -> None:
    broker = LoopbackBroker()
    try:
        with run_server(**s3_settings(s3, batch_chunk_size=10, sink=broker.url)) as srv:
            ev = event({"batch_id": "fanout", "template": TEMPLATE, "recipients": recipients(25, bad={3})},
                       type_=t.BATCH_REQUESTED)
            accepted = reply_of(send(srv, ev))
            assert accepted.get_type() == t.BATCH_PROGRESS
            assert accepted.get_data()["batch"]["chunks"] == 3  # type: ignore[index]
            assert broker.inbox.qsize() == 3
            broker.deliver_all(f"{srv.url}/")
            types = [reply_of(r).get_type() for r in broker.replies]
            assert types == [t.BATCH_PROGRESS, t.BATCH_PROGRESS, t.BATCH_COMPLETED]
            final = reply_of(broker.replies[-1]).get_data()["batch"]  # type: ignore[index]
            assert (final["ok"], final["failed"], final["status"]) == (24, 1, "completed")
            assert len(manifest(s3, final["manifest_uri"])) == 25
            # a redelivered chunk is answered from stored state: nothing is synthesised again
            ok_jobs = 'emotivoice_synthesis_jobs_total{outcome="ok"} 24.0'
            assert ok_jobs in httpx.get(f"{srv.url}/metrics").text
            redelivered = event({"batch_id": "fanout", "chunk": 0}, type_=t.BATCH_CHUNK, id_="fanout-chunk-00000",
                                source=srv.settings.event_source)
            assert reply_of(send(srv, redelivered)).get_data()["batch"]["status"] == "completed"  # type: ignore[index]
            assert ok_jobs in httpx.get(f"{srv.url}/metrics").text
    finally:
        broker.close()


def test_batch_chunk_for_unknown_batch_is_dead_lettered(s3_server: RunningServer) -> None:
    r = send(s3_server, event({"batch_id": "ghost", "chunk": 0}, type_=t.BATCH_CHUNK))
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_batch"



def test_recipients_from_an_s3_file(s3_server: RunningServer, s3: S3Server) -> None:
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in recipients(12))
    s3.client().put_object(Bucket=s3.bucket, Key="inputs/recipients.jsonl", Body=lines.encode())
    ev = event({"template": TEMPLATE, "recipients_uri": f"s3://{s3.bucket}/inputs/recipients.jsonl"},
               type_=t.BATCH_REQUESTED)
    rep = reply_of(send(s3_server, ev))
    assert rep.get_type() == t.BATCH_COMPLETED
    assert rep.get_data()["batch"]["ok"] == 12  # type: ignore[index]
    missing = reply_of(send(s3_server, event({"template": TEMPLATE, "recipients_uri": f"s3://{s3.bucket}/nope.jsonl"},
                                             type_=t.BATCH_REQUESTED)))
    assert missing.get_type() == t.BATCH_FAILED and missing.get_data()["code"] == "invalid_recipients"  # type: ignore[index]

"""Issue 14, Found 6-7: a hanging or dead object store gives fast, documented 503s on every route."""

from __future__ import annotations

import os
import signal
import time

import httpx

from tests.conftest import run_server
from tests.events.conftest import s3_settings
from tests.events.test_cloudevents import event, send
from testkit.s3_server import S3Server


def test_frozen_storage_opens_the_breaker_and_every_route_answers_503(private_s3: S3Server) -> None:
    settings = s3_settings(private_s3, s3_read_timeout_seconds=1, s3_connect_timeout_seconds=1, s3_max_attempts=1,
                           storage_breaker_failures=2, storage_breaker_seconds=30)
    with run_server(**settings) as srv:
        assert private_s3.proc is not None
        os.kill(private_s3.proc.pid, signal.SIGSTOP)  # frozen, not down: connections hang
        try:
            first = [send(srv, event({"text": "存储冻结了。"}), timeout=60) for _ in range(2)]
            started = time.monotonic()
            fast = send(srv, event({"text": "存储冻结了。"}), timeout=60)
            fast_seconds = time.monotonic() - started
            batch = httpx.post(f"{srv.url}/v1/batches", timeout=60,
                               json={"template": "{name}", "recipients": [{"id": "a", "name": "张三"}]})
            status = httpx.get(f"{srv.url}/v1/batches/some-batch", timeout=60)
            readiness = httpx.get(f"{srv.url}/health/readiness").json()
            speech = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"}, timeout=60)
            metrics = httpx.get(f"{srv.url}/metrics").text
        finally:
            os.kill(private_s3.proc.pid, signal.SIGCONT)
    for r in [*first, fast, batch, status]:
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "storage_unavailable" and r.headers["retry-after"]
    assert "recent calls failed" in fast.json()["error"]["message"]  # answered by the open breaker
    print(f"answer with the breaker open: {fast_seconds * 1000:.0f} ms")
    assert readiness["storage"]["state"] == "open"
    assert speech.status_code == 200  # interactive synthesis needs no storage: the pod stays useful
    assert "emotivoice_storage_breaker_open 1.0" in metrics

"""Issue 14, Found 5: SIGTERM drains instead of dropping accepted work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.audio_check import decode
from testkit.server_process import ServerProcess

LONG = "优雅地关闭服务时，已经接受的请求必须完整地完成。" * 100  # seconds of work per request


def test_sigterm_fails_readiness_refuses_new_work_and_completes_admitted_work(tmp_path: Path) -> None:
    # One worker per stream: all six are running (not queued) when SIGTERM comes.
    env = {"EMOTIVOICE_ENGINE": "espeak", "EMOTIVOICE_STORAGE_DIR": str(tmp_path), "EMOTIVOICE_WORKERS": "6",
           "EMOTIVOICE_QUEUE_SIZE": "2"}
    with ServerProcess(env, ready_timeout=60) as srv:
        whole = httpx.post(f"{srv.url}/v1/synthesize", json={"text": LONG, "speaker": "alloy", "format": "wav"},
                           timeout=120)
        assert whole.status_code == 200
        expected = decode(whole.content, "wav").duration
        results: list[httpx.Response] = []
        first_bytes = threading.Barrier(7)

        def long_stream() -> None:
            with httpx.stream("POST", f"{srv.url}/v1/audio/speech", timeout=180,
                              json={"input": LONG, "voice": "alloy", "response_format": "wav"}) as r:
                chunks = r.iter_bytes()
                head = next(chunks)
                first_bytes.wait(timeout=120)
                r._content = head + b"".join(chunks)  # noqa: SLF001 - keep the whole body for the checks
                results.append(r)

        threads = [threading.Thread(target=long_stream) for _ in range(6)]
        for th in threads:
            th.start()
        first_bytes.wait(timeout=120)  # six streams admitted and under way
        assert srv.proc is not None
        srv.proc.terminate()
        time.sleep(0.3)
        readiness = httpx.get(f"{srv.url}/health/readiness")
        refused = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"})
        for th in threads:
            th.join(timeout=180)
        code = srv.proc.wait(timeout=60)
    assert readiness.status_code == 503 and readiness.json()["status"] == "draining"
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
    assert "retry-after" in refused.headers
    assert len(results) == 6 and all(r.status_code == 200 for r in results)
    for r in results:  # every admitted stream ran to its end
        assert abs(decode(r.content, "wav").duration - expected) < 0.2
    assert code == 0

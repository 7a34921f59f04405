"""Issue 14, Found 2-3: small requests cannot buy unbounded work, and batches cannot starve interactive calls."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.conftest import run_server


def _wait_done(url: str, batch_id: str, timeout: float = 120) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/v1/batches/{batch_id}").json()
        if status.get("status") == "completed":
            return status  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} did not complete")


def _manifest(tmp_path: Path, batch_id: str) -> list[str]:
    manifest = next(tmp_path.rglob(f"batches/{batch_id}/manifest.jsonl"))
    return [line for line in manifest.read_text().splitlines() if line]


def test_template_output_gets_the_per_text_limit(tmp_path: Path) -> None:
    """A 2 KB request whose template repeats a long field must not become a 195,000-character text."""
    body = {"batch_id": "amplified", "template": "{name}" * 100,
            "recipients": [{"id": "a", "name": "x" * 190}, {"id": "b", "name": "短"}]}
    with run_server(engine="espeak", storage_dir=tmp_path, max_input_chars=1000) as srv:
        assert httpx.post(f"{srv.url}/v1/batches", json=body).status_code == 202
        status = _wait_done(srv.url, "amplified")
    assert (status["ok"], status["failed"]) == (1, 1)
    assert '"error_code":"input_too_long"' in _manifest(tmp_path, "amplified")[0]


def test_batch_character_and_audio_budgets(tmp_path: Path) -> None:
    many = [{"id": f"r{i}", "name": "新年快乐" * 10} for i in range(20)]
    with run_server(engine="espeak", storage_dir=tmp_path, batch_max_total_chars=500,
                    batch_max_audio_seconds=4.0) as srv:
        too_much = httpx.post(f"{srv.url}/v1/batches", json={"template": "{name}", "recipients": many})
        small = {"batch_id": "budget", "template": "{name}，祝你新年快乐，万事如意！",
                 "recipients": [{"id": f"r{i}", "name": f"朋友{i}"} for i in range(8)]}
        assert httpx.post(f"{srv.url}/v1/batches", json=small).status_code == 202
        status = _wait_done(srv.url, "budget")
    assert too_much.status_code == 413 and too_much.json()["error"]["code"] == "batch_too_large"
    lines = _manifest(tmp_path, "budget")
    over = [line for line in lines if "batch_audio_budget_exceeded" in line]
    assert over and status["ok"] + status["failed"] == 8 and status["failed"] == len(over)


def test_one_caller_cannot_run_unlimited_batches(tmp_path: Path) -> None:
    slow = [{"id": f"r{i}", "name": "一位非常重要的老朋友" * 8} for i in range(30)]
    with run_server(engine="espeak", storage_dir=tmp_path, batch_max_per_subject=1, batch_chunk_size=5) as srv:
        first = httpx.post(f"{srv.url}/v1/batches", json={"batch_id": "one", "template": "{name}", "recipients": slow})
        second = httpx.post(f"{srv.url}/v1/batches", json={"batch_id": "two", "template": "{name}", "recipients": slow})
        again = httpx.post(f"{srv.url}/v1/batches", json={"batch_id": "one", "template": "{name}", "recipients": slow})
    assert first.status_code == 202
    assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_batches"
    assert "retry-after" in second.headers
    assert again.status_code == 202  # resuming one's own running batch is not a second batch


def test_batches_leave_interactive_slots(tmp_path: Path) -> None:
    """With batches filling the pod, interactive calls still get the reserved slot."""
    recipients = [{"id": f"r{i}", "name": "一位非常重要的老朋友" * 4} for i in range(12)]
    with run_server(engine="espeak", storage_dir=tmp_path, workers=1, queue_size=2, interactive_reserved_slots=1,
                    batch_chunk_size=4, batch_max_per_subject=5, batch_max_running=3) as srv:
        for name in ("b1", "b2", "b3"):
            assert httpx.post(f"{srv.url}/v1/batches",
                              json={"batch_id": name, "template": "{name}", "recipients": recipients}).status_code == 202
        time.sleep(0.5)  # the batches now hold every batch slot
        results: list[int] = []

        def call() -> None:
            results.append(httpx.post(f"{srv.url}/v1/audio/speech", timeout=60,
                                      json={"input": "你好", "voice": "alloy", "response_format": "wav"}).status_code)

        for _ in range(5):
            th = threading.Thread(target=call)
            th.start()
            th.join()
        metrics = httpx.get(f"{srv.url}/metrics").text
    assert results.count(200) == 5, results
    assert "emotivoice_in_flight_requests" in metrics

"""Liveness during loading, readiness only after warm-up, requests during loading wait instead of failing,
a failed load leaves a live-but-never-ready process with the reason, and the func-python entry point."""

from __future__ import annotations

import threading
import time

import httpx

from function.engines.base import EngineLoadError
from function.engines.espeak.engine import EspeakEngine
from function.func import new
from tests.conftest import run_server


def slow_loader() -> tuple[EspeakEngine, float]:
    time.sleep(1.5)
    engine = EspeakEngine()
    engine.warm_up()
    return engine, 1.5


def failing_loader() -> tuple[EspeakEngine, float]:
    raise EngineLoadError("EmotiVoice home /nowhere: missing file outputs/prompt_tts_open_source_joint/ckpt/g_00140000")


def test_live_while_loading_ready_after_and_early_requests_are_served() -> None:
    with run_server(loader=slow_loader, wait_ready=False) as srv:
        assert httpx.get(f"{srv.url}/health/liveness").status_code == 200
        r = httpx.get(f"{srv.url}/health/readiness")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        result: list[httpx.Response] = []
        early = threading.Thread(target=lambda: result.append(httpx.post(
            f"{srv.url}/v1/audio/speech", json={"input": "hello", "voice": "alloy", "response_format": "wav"},
            timeout=30)))
        early.start()
        early.join(timeout=30)
        ready = httpx.get(f"{srv.url}/health/readiness")
        metrics = httpx.get(f"{srv.url}/metrics").text
    assert result[0].status_code == 200  # waited for the engine, not dropped
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert 'emotivoice_engine_load_seconds{engine="espeak"} 1.5' in metrics
    assert "emotivoice_ready 1.0" in metrics


def test_failed_load_is_live_not_ready_with_reason() -> None:
    with run_server(loader=failing_loader, wait_ready=False, queue_timeout_seconds=2) as srv:
        time.sleep(0.2)
        assert httpx.get(f"{srv.url}/health/liveness").status_code == 200
        r = httpx.get(f"{srv.url}/health/readiness")
        s = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"})
    assert r.status_code == 503 and r.json()["status"] == "failed"
    assert "g_00140000" in r.json()["error"]
    assert s.status_code == 503 and s.json()["error"]["code"] == "not_ready"
    assert "retry-after" in s.headers


def test_func_python_lifecycle(monkeypatch: object) -> None:
    fn = new()
    assert fn.ready() == (False, "not started")
    fn.start({})
    try:
        deadline = time.monotonic() + 10
        while not fn.ready()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert fn.alive()[0]
    finally:
        fn.stop()

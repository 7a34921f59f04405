"""The shared server-process helper: ready means ready, a dead server fails fast and says why, stop is SIGTERM."""

from __future__ import annotations

import signal

import httpx
import pytest

from testkit.server_process import ServerProcess, ServerStartError


def test_context_manager_yields_a_ready_server_and_stops_it_gracefully() -> None:
    with ServerProcess({"EMOTIVOICE_ENGINE": "espeak"}, ready_timeout=120) as server:
        assert httpx.get(f"{server.url}/health/readiness", timeout=5).status_code == 200
        assert server.proc is not None and server.proc.poll() is None
    # ended by the SIGTERM (a clean exit after the graceful shutdown, or the signal re-raised after it, as
    # uvicorn does), not by the SIGKILL fallback
    assert server.proc.returncode in (0, -signal.SIGTERM)


def test_a_server_that_exits_fails_at_once_with_its_stderr() -> None:
    server = ServerProcess({"EMOTIVOICE_ENGINE": "no-such-engine"}, ready_timeout=120).start()
    with pytest.raises(ServerStartError, match="exited with 1") as info:
        server.wait_ready()
    assert "invalid configuration" in str(info.value) and "engine" in str(info.value)
    assert server.stop() == 1


def test_watch_liveness_records_live_no_later_than_ready() -> None:
    server = ServerProcess({"EMOTIVOICE_ENGINE": "espeak"}, ready_timeout=120).start()
    try:
        startup = server.wait_ready(poll_s=0.01, watch_liveness=True)
    finally:
        server.stop()
    assert startup.live_s is not None and 0 < startup.live_s <= startup.ready_s


def test_kill_is_a_crash() -> None:
    with ServerProcess({"EMOTIVOICE_ENGINE": "espeak"}, ready_timeout=120) as server:
        server.kill()
        assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.url}/health/liveness", timeout=2)

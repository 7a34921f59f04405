"""Start and stop a real `emotivoice-fn serve` process for the benchmarks (not an in-process app: the
figures should include what a deployed pod pays)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def start_server(port: int, env: dict[str, str], timeout: float = 300) -> subprocess.Popen[bytes]:
    """Spawn the server with extra environment ``env`` and wait until /health/readiness is 200."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "function.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "EMOTIVOICE_LOG_LEVEL": "WARNING", **env}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server not ready in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

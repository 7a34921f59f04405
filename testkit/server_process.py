"""Run a real ``python -m function.cli serve`` process on a loopback port, ready or not at all.

Why a child process and not uvicorn in a thread (``tests/conftest.py``'s ``run_server``): benchmarks must
pay what a deployed pod pays (interpreter start, imports, engine load), and crash-and-resume tests need a
process they can kill. One helper owns the three steps every such caller needs:

- spawn with environment overrides (on top of this process's environment) from the repository root;
- wait until ``/health/readiness`` answers 200, failing fast if the process exits and with a bounded
  wait otherwise; the server's stderr goes to a temporary file so a failure can say why without a pipe
  that could fill up and block the server;
- stop with SIGTERM (the graceful shutdown a pod gets), then SIGKILL if it does not exit in time.

Imports: the standard library and httpx only. Never ``function`` (the server runs in its own process;
importing the service here would load it into every caller) and never ``planner``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]


class ServerStartError(RuntimeError):
    """The server process exited, or did not become ready in time; the message says which (and its stderr)."""


@dataclass(frozen=True)
class Startup:
    """Seconds from spawning the process to the first 200 of each health path."""

    live_s: float | None  # None unless liveness was watched
    ready_s: float


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One ``emotivoice-fn serve`` child process; ``with ServerProcess(...) as srv:`` starts it, waits until
    it is ready and stops it on exit.

    ``env`` overrides this process's environment; ``EMOTIVOICE_LOG_LEVEL`` defaults to ``WARNING`` (what
    a benchmark wants) unless ``env`` sets it. ``port`` defaults to a free loopback port.
    """

    def __init__(self, env: Mapping[str, str] | None = None, port: int | None = None, *,
                 host: str = "127.0.0.1", ready_timeout: float = 300.0, cwd: Path = ROOT) -> None:
        self.port = port if port is not None else free_port()
        self.host = host
        self.env = {**os.environ, "EMOTIVOICE_LOG_LEVEL": "WARNING", **(env or {})}
        self.ready_timeout = ready_timeout
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.perf_counter() just before the spawn
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        """Spawn the process (does not wait; see ``wait_ready``)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"server on port {self.port} is already running")
        self._close_stderr()
        self._stderr = tempfile.TemporaryFile(prefix="emotivoice-server-stderr-")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "function.cli", "serve", "--host", self.host, "--port", str(self.port)],
            env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )
        return self

    def wait_ready(self, timeout: float | None = None, *, poll_s: float = 0.1,
                   watch_liveness: bool = False) -> Startup:
        """Poll until ``/health/readiness`` is 200; times, and ``timeout``, count from the spawn.

        Raises ``ServerStartError`` as soon as the process exits, or once ``timeout`` seconds (default:
        ``ready_timeout``) have passed, killing the process first. ``watch_liveness`` also records when
        ``/health/liveness`` first answered 200 (the cold-start benchmark's "live" mark).
        """
        proc = self._running()
        limit = self.ready_timeout if timeout is None else timeout
        live: float | None = None
        with httpx.Client(timeout=2) as client:
            while True:
                if proc.poll() is not None:
                    raise ServerStartError(f"server exited with {proc.returncode} before it was ready"
                                           f"{self._stderr_tail()}")
                try:
                    if watch_liveness and live is None and client.get(f"{self.url}/health/liveness").status_code == 200:
                        live = time.perf_counter() - self.started_at
                    if client.get(f"{self.url}/health/readiness").status_code == 200:
                        return Startup(live_s=live, ready_s=time.perf_counter() - self.started_at)
                except httpx.HTTPError:
                    pass  # not listening yet
                if time.perf_counter() - self.started_at > limit:
                    why = f"server not ready in {limit:.0f} s{self._stderr_tail()}"
                    self.kill()
                    raise ServerStartError(why)
                time.sleep(poll_s)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_stderr()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL at once and reap it: a crash, not a shutdown (no graceful stop runs)."""
        proc = self._running()
        proc.kill()
        proc.wait()
        self._close_stderr()

    def __enter__(self) -> ServerProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _running(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError("server not started: call start() first")
        return self.proc

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-limit:].strip()
        return f":\n{text}" if text else ""

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


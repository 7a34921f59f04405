"""Issue 14, Found 4: slow readers cannot hold every slot."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.conftest import run_server

LONG = "这是一个很长的句子，用来产生足够多的音频数据。" * 150


def _never_reading_client(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes block soon
    s.connect(("127.0.0.1", port))
    body = json.dumps({"input": LONG, "voice": "alloy", "response_format": "pcm"}).encode()
    s.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def test_stalled_readers_are_cut_off_and_free_their_slots(tmp_path: Path) -> None:
    with run_server(engine="espeak", storage_dir=tmp_path, workers=2, queue_size=2, stall_timeout_seconds=2,
                    max_buffered_chunks=2) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        stalled = [_never_reading_client(port) for _ in range(4)]  # every slot of the pod
        time.sleep(0.5)
        during = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"}).status_code
        deadline = time.monotonic() + 30
        after = 0
        while time.monotonic() < deadline:
            after = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"}).status_code
            if after == 200:
                break
            time.sleep(0.5)
        metrics = httpx.get(f"{srv.url}/metrics").text
        for s in stalled:
            s.close()
    assert during == 503  # the stalled clients really held the pod
    assert after == 200  # ... until they were cut off
    line = next(m for m in metrics.splitlines() if m.startswith("emotivoice_stalled_streams_total"))
    assert float(line.split()[-1]) >= 1

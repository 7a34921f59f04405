"""Event-path benchmark: batch greetings per minute per pod, and CloudEvent overhead vs a direct HTTP call.

Starts one real server process (storage: a temporary local directory unless --s3-* is given), then
  1. runs a batch of --recipients greetings through POST /v1/batches and times it to completion;
  2. sends --requests synthesis requests both as direct POST /v1/synthesize calls and as binary-mode
     CloudEvents (each with a fresh id, so each one synthesises and uploads) and compares medians.

    .venv/bin/python bench/events_throughput.py --help
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from cloudevents.core.bindings.http import to_binary  # noqa: E402
from cloudevents.core.formats.json import JSONFormat  # noqa: E402
from cloudevents.core.v1.event import CloudEvent  # noqa: E402

from testkit.server_process import ServerProcess  # noqa: E402

TEXT = "亲爱的朋友，新年快乐！祝你在新的一年里身体健康，万事如意。"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="espeak", choices=["espeak", "emotivoice"])
    parser.add_argument("--home", help="EmotiVoice home (with --engine emotivoice)")
    parser.add_argument("--snapshot", help="snapshot directory (with --engine emotivoice)")
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", default="mp3")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--s3-bucket")
    args = parser.parse_args()

    env = {"EMOTIVOICE_ENGINE": args.engine, "EMOTIVOICE_WORKERS": str(args.workers), "EMOTIVOICE_QUEUE_SIZE": "32",
           "EMOTIVOICE_BATCH_CHUNK_SIZE": "50"}
    if args.home:
        env["EMOTIVOICE_HOME"] = args.home
    if args.snapshot:
        env["EMOTIVOICE_SNAPSHOT"] = args.snapshot
    if args.s3_endpoint:
        env.update({"EMOTIVOICE_STORAGE": "s3", "EMOTIVOICE_S3_ENDPOINT": args.s3_endpoint,
                    "EMOTIVOICE_S3_BUCKET": args.s3_bucket or "emotivoice"})
    else:
        env.update({"EMOTIVOICE_STORAGE": "local", "EMOTIVOICE_STORAGE_DIR": tempfile.mkdtemp(prefix="ev-bench-")})
    with ServerProcess(env, args.port) as server:
        url = server.url
        batch_id = f"bench-{uuid.uuid4().hex[:8]}"
        body = {"batch_id": batch_id, "template": "{name}，" + TEXT, "voice": args.voice, "format": args.format,
                "recipients": [{"id": f"r{i:05d}", "name": f"朋友{i}"} for i in range(args.recipients)]}
        started = time.perf_counter()
        httpx.post(f"{url}/v1/batches", json=body, timeout=60).raise_for_status()
        while (status := httpx.get(f"{url}/v1/batches/{batch_id}").json())["status"] != "completed":
            time.sleep(0.1)
        batch_seconds = time.perf_counter() - started

        direct, evented = [], []
        for i in range(args.requests):
            text = f"{TEXT}第{i}条。"
            t0 = time.perf_counter()
            httpx.post(f"{url}/v1/synthesize", json={"text": text, "speaker": args.voice, "format": args.format},
                       timeout=300).raise_for_status()
            direct.append(time.perf_counter() - t0)
            ev = CloudEvent(attributes={"type": "dev.emotivoice.synthesis.requested", "source": "/bench",
                                        "id": uuid.uuid4().hex, "specversion": "1.0",
                                        "datacontenttype": "application/json"},
                            data={"text": text, "voice": args.voice, "format": args.format})
            msg = to_binary(ev, JSONFormat())
            t0 = time.perf_counter()
            r = httpx.post(f"{url}/", headers={**msg.headers, "Prefer": "reply"}, content=msg.body, timeout=300)
            evented.append(time.perf_counter() - t0)
            assert r.status_code == 200 and r.headers["ce-type"].endswith("completed"), r.text

    storage = "s3" if args.s3_endpoint else "local"
    print(f"engine={args.engine} workers={args.workers} storage={storage} format={args.format} cores={os.cpu_count()}")
    print(f"batch: {status['ok']} ok / {status['failed']} failed of {args.recipients} in {batch_seconds:.2f} s "
          f"-> {60 * args.recipients / batch_seconds:.0f} greetings per minute per pod")
    d, e = statistics.median(direct), statistics.median(evented)
    print(f"{'path':<22}{'p50 s':>9}{'min s':>9}{'max s':>9}")
    print(f"{'direct HTTP':<22}{d:>9.4f}{min(direct):>9.4f}{max(direct):>9.4f}")
    print(f"{'CloudEvent + storage':<22}{e:>9.4f}{min(evented):>9.4f}{max(evented):>9.4f}")
    print(f"event overhead: {1000 * (e - d):+.1f} ms per request (x{e / d:.2f})")


if __name__ == "__main__":
    main()

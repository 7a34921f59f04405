"""HTTP latency benchmark: one real server process, short and long text, concurrency 1 and 4.

Prints p50/p95 latency, real-time factor (latency / audio seconds) and time to first audio byte for the
streamed OpenAI route against the whole-file native route, and writes the latency samples to
bench/results/service_times.json (the capacity planner's input).

    .venv/bin/python bench/http_latency.py --help
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from testkit.server_process import ServerProcess  # noqa: E402

SHORT = "你好，欢迎使用情感语音合成服务。"
LONG = (
    "今天是一个非常特别的日子，我们在这里欢聚一堂，共同庆祝新年的到来。过去的一年里，大家付出了很多努力，"
    "也收获了很多成果。Thank you all for your hard work this year. 新的一年，希望每个人都身体健康，"
    "工作顺利，家庭幸福，万事如意！让我们一起期待更加美好的明天。"
)
PCM_RATE = 24_000


def one_request(url: str, text: str, voice: str, streamed: bool) -> dict[str, float]:
    """Latency, first-byte time and audio seconds of one request (pcm: exact duration from byte count)."""
    started = time.perf_counter()
    first = None
    size = 0
    if streamed:
        body = {"input": text, "voice": voice, "response_format": "pcm"}
        with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                if first is None and chunk:
                    first = time.perf_counter() - started
                size += len(chunk)
    else:
        body = {"text": text, "speaker": voice, "format": "pcm", "sample_rate": PCM_RATE}
        r = httpx.post(f"{url}/v1/synthesize", json=body, timeout=600)
        r.raise_for_status()
        first = time.perf_counter() - started
        size = len(r.content)
    latency = time.perf_counter() - started
    audio = size / 2 / PCM_RATE
    return {"latency": latency, "first_byte": first or latency, "audio": audio, "rtf": latency / audio}


def run_case(url: str, text: str, voice: str, streamed: bool, concurrency: int, requests: int) -> list[dict[str, float]]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda _: one_request(url, text, voice, streamed), range(requests)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="espeak", choices=["espeak", "emotivoice"])
    parser.add_argument("--home", help="EmotiVoice home (with --engine emotivoice)")
    parser.add_argument("--snapshot", help="snapshot directory (with --engine emotivoice)")
    parser.add_argument("--voice", default=None, help="voice id (default: alloy)")
    parser.add_argument("--requests", type=int, default=20, help="requests per case (default 20)")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--workers", type=int, default=2, help="EMOTIVOICE_WORKERS of the server")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "service_times.json")
    args = parser.parse_args()

    # A deep queue and a long queue timeout: this measures latency under concurrency, not admission control.
    env = {"EMOTIVOICE_ENGINE": args.engine, "EMOTIVOICE_WORKERS": str(args.workers),
           "EMOTIVOICE_QUEUE_SIZE": "16", "EMOTIVOICE_QUEUE_TIMEOUT_SECONDS": "900"}
    if args.home:
        env["EMOTIVOICE_HOME"] = args.home
    if args.snapshot:
        env["EMOTIVOICE_SNAPSHOT"] = args.snapshot
    voice = args.voice or "alloy"
    samples = []
    rows = []
    with ServerProcess(env, args.port) as server:
        url = server.url
        one_request(url, SHORT, voice, True)  # warm the connection path
        for label, text in (("short", SHORT), ("long", LONG)):
            for concurrency in (1, 4):
                for streamed in (True, False):
                    results = run_case(url, text, voice, streamed, concurrency, args.requests)
                    lat = [r["latency"] for r in results]
                    rows.append((label, len(text), concurrency, "stream" if streamed else "whole",
                                 statistics.median(lat), pct(lat, 0.95),
                                 statistics.median(r["first_byte"] for r in results),
                                 statistics.median(r["rtf"] for r in results),
                                 statistics.median(r["audio"] for r in results)))
                    samples += [{"chars": len(text), "concurrency": concurrency, "seconds": round(r["latency"], 5)}
                                for r in results]

    print(f"engine={args.engine} workers={args.workers} requests/case={args.requests} "
          f"machine={platform.machine()} cores={os.cpu_count()}")
    print(f"{'text':<6}{'chars':>6}{'conc':>5}{'mode':>8}{'p50 s':>9}{'p95 s':>9}{'TTFB s':>9}{'RTF':>8}{'audio s':>9}")
    for label, chars, conc, mode, p50, p95, ttfb, rtf, audio in rows:
        print(f"{label:<6}{chars:>6}{conc:>5}{mode:>8}{p50:>9.3f}{p95:>9.3f}{ttfb:>9.3f}{rtf:>8.3f}{audio:>9.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "engine": args.engine,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "samples": samples,
    }, indent=1) + "\n")
    print(f"samples written to {args.out}")


if __name__ == "__main__":
    main()

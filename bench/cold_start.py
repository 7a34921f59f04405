"""Cold-start benchmark: spawn the real server process repeatedly and time
process start -> liveness -> readiness -> first successful synthesis response,
for the espeak default, the eager EmotiVoice path (an EMOTIVOICE_HOME) and a snapshot (EMOTIVOICE_SNAPSHOT)
served two ways: TorchScript ("snapshot", EMOTIVOICE_RUNTIME=torchscript) and, when the snapshot has ONNX
graphs, ONNX Runtime ("onnx", no torch imported). On-disk size counts each runtime's own files.

Prints median/min/max per variant, the eager/snapshot ratio measured in the same run, each variant's
on-disk size and peak RSS (the server's VmHWM right after its first audio), the first request's own
time (first audio - ready), and where the time goes (interpreter+imports until liveness, engine load+warm-up from the
server's own emotivoice_engine_load_seconds metric). Writes bench/results/cold_start.json (the capacity
planner's input). Page cache is warm after the first run of each variant; run 1 is discarded. Variants
are interleaved run by run (eager, snapshot, espeak, eager, ...) so load from other users of a shared
machine hits them alike.

``--variant NAME=DIR`` adds more snapshot directories (e.g. one built with ``--executor profiling``);
``--breakdown N`` also times the snapshot path's stages in-process (N fresh processes, medians): server
imports, ``import torch``, archive reads, engine import, unpickling, frontend seeding, warm-up, and the
first request's synthesis.

    .venv/bin/python -m testkit.random_home --size full --data-dir ../shared/emotivoice /tmp/ev-home
    .venv/bin/emotivoice-fn snapshot --home /tmp/ev-home --out /tmp/ev-snap
    .venv/bin/python bench/cold_start.py --home /tmp/ev-home --snapshot /tmp/ev-snap --runs 5 --breakdown 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from testkit.server_process import ServerProcess  # noqa: E402

TEXT = "你好，欢迎光临。"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB; NaN where /proc has no such field."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def one_start(env: dict[str, str], port: int, timeout: float, poll_s: float = 0.025) -> dict[str, float]:
    server = ServerProcess(env, port, ready_timeout=timeout).start()
    url = server.url
    try:
        startup = server.wait_ready(poll_s=poll_s, watch_liveness=True)
        marks = {"live": startup.live_s if startup.live_s is not None else math.nan, "ready": startup.ready_s}
        with httpx.Client(timeout=2) as client:
            r = client.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "alloy", "response_format": "wav"},
                            timeout=120)
            r.raise_for_status()
            marks["first_audio"] = time.perf_counter() - server.started_at
            assert server.proc is not None
            marks["peak_rss_mb"] = peak_rss_mb(server.proc.pid)
            found = re.search(r"^emotivoice_engine_load_seconds\{[^}]*\} ([0-9.e+-]+)$",
                              client.get(f"{url}/metrics").text, re.M)
            marks["engine_load"] = float(found.group(1)) if found else float("nan")
    finally:
        server.stop()
    return marks


BREAKDOWN_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import function.http.app  # what `emotivoice-fn serve` imports before the engine starts loading
t1 = time.perf_counter()
import torch
t2 = time.perf_counter()
from function.engines.emotivoice.snapshot_runtime import open_snapshot
from function.engines.base import SynthesisRequest
engine = open_snapshot(sys.argv[1])
t3 = time.perf_counter()
engine.warm_up()
t4 = time.perf_counter()
list(engine.synthesize(SynthesisRequest(text=sys.argv[2], voice="alloy")))
t5 = time.perf_counter()
print(json.dumps({"server imports": t1 - t0, "import torch": t2 - t1, "open snapshot": t3 - t2,
                  **{"  " + k: v for k, v in engine.load_stages.items()},
                  "warm-up": t4 - t3, "first request synthesis": t5 - t4, "total": t5 - t0}))
"""


ONNX_BREAKDOWN_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import function.http.app  # what `emotivoice-fn serve` imports before the engine starts loading
t1 = time.perf_counter()
from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot
from function.engines.base import SynthesisRequest
engine = open_onnx_snapshot(sys.argv[1])
t3 = time.perf_counter()
engine.warm_up()
t4 = time.perf_counter()
list(engine.synthesize(SynthesisRequest(text=sys.argv[2], voice="alloy")))
t5 = time.perf_counter()
assert "torch" not in sys.modules
print(json.dumps({"server imports": t1 - t0, "open snapshot (onnx)": t3 - t1,
                  **{"  " + k: v for k, v in engine.load_stages.items()},
                  "warm-up": t4 - t3, "first request synthesis": t5 - t4, "total": t5 - t0}))
"""


def breakdown(snapshot: Path, runs: int, script: str = BREAKDOWN_SCRIPT) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", script, str(snapshot), TEXT], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "EMOTIVOICE_LOG_LEVEL": "WARNING"})
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="EmotiVoice home for the eager variant")
    parser.add_argument("--snapshot", type=Path, help="snapshot directory for the snapshot variant")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per variant (after one warm-up run)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="another snapshot directory to measure (repeatable)")
    parser.add_argument("--breakdown", type=int, default=0, metavar="N",
                        help="also time the snapshot path's stages in N fresh processes (medians)")
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--poll", type=float, default=0.025,
                        help="readiness polling interval in seconds (Knative's queue-proxy probes every 25 ms)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cold_start.json")
    args = parser.parse_args()

    import espeakng_loader

    variants: dict[str, tuple[dict[str, str], int]] = {
        "espeak": ({"EMOTIVOICE_ENGINE": "espeak"}, dir_size(Path(espeakng_loader.__file__).parent)),
    }
    if args.home:
        variants["eager"] = ({"EMOTIVOICE_ENGINE": "emotivoice", "EMOTIVOICE_HOME": str(args.home)}, dir_size(args.home))
    if args.snapshot:
        from function.engines.emotivoice import snapshot_format as fmt

        manifest = fmt.read_manifest(args.snapshot)
        shared = sum((args.snapshot / n).stat().st_size for n in (*fmt.FRONTEND_FILES, fmt.MANIFEST))
        variants["snapshot"] = ({"EMOTIVOICE_ENGINE": "emotivoice", "EMOTIVOICE_SNAPSHOT": str(args.snapshot),
                                 "EMOTIVOICE_RUNTIME": "torchscript"},
                                shared + sum((args.snapshot / n).stat().st_size for n in (*fmt.ARCHIVES, fmt.WEIGHTS)))
        if "onnx" in manifest:  # issue 13: the same snapshot's ONNX graphs, served without torch
            variants["onnx"] = ({"EMOTIVOICE_ENGINE": "emotivoice", "EMOTIVOICE_SNAPSHOT": str(args.snapshot),
                                 "EMOTIVOICE_RUNTIME": "onnx"},
                                shared + sum((args.snapshot / n).stat().st_size for n in fmt.ONNX_FILES))
    for item in args.variant:
        name, _, directory = item.partition("=")
        variants[name] = ({"EMOTIVOICE_ENGINE": "emotivoice", "EMOTIVOICE_SNAPSHOT": directory}, dir_size(Path(directory)))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for name, (env, _) in variants.items():
        print(f"{name}: warm-up run", file=sys.stderr)
        one_start(env, args.port, args.timeout, args.poll)
    for i in range(args.runs):  # interleaved: every variant once per round
        for name, (env, _) in variants.items():
            marks = one_start(env, args.port, args.timeout, args.poll)
            print(f"{name}: run {i + 1}/{args.runs}: first audio {marks['first_audio']:.3f} s", file=sys.stderr)
            results[name].append(marks)

    print(f"cold start on {platform.machine()}, {os.cpu_count()} cores, warm page cache, {args.runs} runs each")
    print(f"{'variant':<10}{'first audio p50':>16}{'min':>8}{'max':>8}{'live p50':>10}{'ready p50':>11}"
          f"{'engine load':>13}{'1st request':>13}{'on disk MB':>12}{'peak RSS MB':>13}")
    for name, runs in results.items():
        fa = [r["first_audio"] for r in runs]
        print(f"{name:<10}{statistics.median(fa):>16.3f}{min(fa):>8.3f}{max(fa):>8.3f}"
              f"{statistics.median(r['live'] for r in runs):>10.3f}{statistics.median(r['ready'] for r in runs):>11.3f}"
              f"{statistics.median(r['engine_load'] for r in runs):>13.3f}"
              f"{statistics.median(r['first_audio'] - r['ready'] for r in runs):>13.3f}{variants[name][1] / 1e6:>12.1f}"
              f"{statistics.median(r['peak_rss_mb'] for r in runs):>13.0f}")
    ratio = None
    if "eager" in results and "snapshot" in results:
        ratio = statistics.median(r["first_audio"] for r in results["eager"]) / statistics.median(
            r["first_audio"] for r in results["snapshot"])
        print(f"eager / snapshot (first audio, medians): {ratio:.2f}x")
    median_fa = {name: statistics.median(r["first_audio"] for r in runs) for name, runs in results.items()}
    if "onnx" in median_fa:
        for other in ("eager", "snapshot"):
            if other in median_fa:
                print(f"{other} / onnx (first audio, medians): {median_fa[other] / median_fa['onnx']:.2f}x")
        print(f"onnx / espeak (first audio, medians): {median_fa['onnx'] / median_fa['espeak']:.2f}x")
        if "snapshot" in results:
            rss = {n: statistics.median(r["peak_rss_mb"] for r in results[n]) for n in ("onnx", "snapshot")}
            print(f"onnx / snapshot (peak RSS to first audio, medians): {rss['onnx'] / rss['snapshot']:.2f}x")
    stages = None
    if args.breakdown and args.snapshot:
        stages = breakdown(args.snapshot, args.breakdown)
        print(f"snapshot path, in-process stage medians over {args.breakdown} fresh processes (s):")
        for key, value in stages.items():
            print(f"  {key:<32}{value:>8.3f}")
    onnx_stages = None
    if args.breakdown and "onnx" in variants:
        onnx_stages = breakdown(args.snapshot, args.breakdown, ONNX_BREAKDOWN_SCRIPT)
        print(f"ONNX path, in-process stage medians over {args.breakdown} fresh processes (s):")
        for key, value in onnx_stages.items():
            print(f"  {key:<32}{value:>8.3f}")
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}

    def summary(name: str, runs: list[dict[str, float]]) -> dict:
        fa = [r["first_audio"] for r in runs]
        return {"samples_s": [round(x, 4) for x in fa], "first_audio_median_s": round(statistics.median(fa), 3),
                "first_audio_min_s": round(min(fa), 3), "first_audio_max_s": round(max(fa), 3),
                "live_median_s": round(statistics.median(r["live"] for r in runs), 3),
                "ready_median_s": round(statistics.median(r["ready"] for r in runs), 3),
                "engine_load_median_s": round(statistics.median(r["engine_load"] for r in runs), 3),
                "peak_rss_median_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
                "on_disk_bytes": variants[name][1]}

    merged = {**existing.get("variants", {}), **{name: summary(name, runs) for name, runs in results.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variants": merged,
        **({"eager_over_snapshot": round(ratio, 2)} if ratio else {}),
        **({"snapshot_stages_s": stages} if stages else {}),
        **({"onnx_stages_s": onnx_stages} if onnx_stages else {}),
        **{k: v for k, v in existing.items() if k in ("executor_decision", "notes")},
    }, indent=1, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

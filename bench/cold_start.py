"""Cold-start benchmark: spawn the real server process repeatedly and time
process start -> liveness -> readiness -> first successful synthesis response,
for the espeak default, the eager EmotiVoice path (an EMOTIVOICE_HOME) and a snapshot (EMOTIVOICE_SNAPSHOT).

Prints median/min/max per variant, the eager/snapshot ratio measured in the same run, each variant's
on-disk size, and where the time goes (interpreter+imports until liveness, engine load+warm-up from the
server's own emotivoice_engine_load_seconds metric). Writes bench/results/cold_start.json (the capacity
planner's input). Page cache is warm after the first run of each variant; run 1 is discarded.

    .venv/bin/python -m function.engines.emotivoice.random_home --size full --data-dir ../shared/emotivoice /tmp/ev-home
    .venv/bin/python bench/cold_start.py --home /tmp/ev-home [--snapshot /tmp/ev-snap] --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEXT = "你好，欢迎光临。"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def one_start(env: dict[str, str], port: int, timeout: float) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "function.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, **env, "EMOTIVOICE_LOG_LEVEL": "WARNING"}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marks: dict[str, float] = {}
    try:
        with httpx.Client(timeout=2) as client:
            while "ready" not in marks:
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"not ready after {timeout} s")
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
                try:
                    if "live" not in marks and client.get(f"{url}/health/liveness").status_code == 200:
                        marks["live"] = time.perf_counter() - started
                    if client.get(f"{url}/health/readiness").status_code == 200:
                        marks["ready"] = time.perf_counter() - started
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
            r = client.post(f"{url}/v1/audio/speech", json={"input": TEXT, "voice": "alloy", "response_format": "wav"},
                            timeout=120)
            r.raise_for_status()
            marks["first_audio"] = time.perf_counter() - started
            found = re.search(r"^emotivoice_engine_load_seconds\{[^}]*\} ([0-9.e+-]+)$",
                              client.get(f"{url}/metrics").text, re.M)
            marks["engine_load"] = float(found.group(1)) if found else float("nan")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="EmotiVoice home for the eager variant")
    parser.add_argument("--snapshot", type=Path, help="snapshot directory for the snapshot variant")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per variant (after one warm-up run)")
    parser.add_argument("--port", type=int, default=18110)
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
        variants["snapshot"] = ({"EMOTIVOICE_ENGINE": "emotivoice", "EMOTIVOICE_SNAPSHOT": str(args.snapshot)},
                                dir_size(args.snapshot))
    results: dict[str, list[dict[str, float]]] = {}
    for name, (env, _) in variants.items():
        print(f"{name}: warm-up run", file=sys.stderr)
        one_start(env, args.port, args.timeout)
        results[name] = []
        for i in range(args.runs):
            marks = one_start(env, args.port, args.timeout)
            print(f"{name}: run {i + 1}/{args.runs}: first audio {marks['first_audio']:.3f} s", file=sys.stderr)
            results[name].append(marks)

    print(f"cold start on {platform.machine()}, {os.cpu_count()} cores, warm page cache, {args.runs} runs each")
    print(f"{'variant':<10}{'first audio p50':>16}{'min':>8}{'max':>8}{'live p50':>10}{'ready p50':>11}"
          f"{'engine load':>13}{'on disk MB':>12}")
    for name, runs in results.items():
        fa = [r["first_audio"] for r in runs]
        print(f"{name:<10}{statistics.median(fa):>16.3f}{min(fa):>8.3f}{max(fa):>8.3f}"
              f"{statistics.median(r['live'] for r in runs):>10.3f}{statistics.median(r['ready'] for r in runs):>11.3f}"
              f"{statistics.median(r['engine_load'] for r in runs):>13.3f}{variants[name][1] / 1e6:>12.1f}")
    if "eager" in results and "snapshot" in results:
        ratio = statistics.median(r["first_audio"] for r in results["eager"]) / statistics.median(
            r["first_audio"] for r in results["snapshot"])
        print(f"eager / snapshot (first audio, medians): {ratio:.2f}x")
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {**existing.get("variants", {}),
              **{name: {"samples_s": [round(r["first_audio"], 4) for r in runs]} for name, runs in results.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variants": merged,
    }, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

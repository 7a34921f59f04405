"""Benchmark the EmotiVoice engine at full size: per-stage times, end-to-end real-time factor, prompt cache
cold vs warm, and batch sizes 1/4/8 for long text.

    .venv/bin/python bench/emotivoice_engine.py                 # builds a full-size random home if needed
    .venv/bin/python bench/emotivoice_engine.py --home DIR --threads 2 --repeats 5 --precision fp32 bf16
    .venv/bin/python bench/emotivoice_engine.py --home DIR --snapshot SNAP --runtimes-only   # issue 13

``--snapshot`` adds the per-runtime comparison (issue 13): eager fp32/bf16, TorchScript snapshot, ONNX
Runtime, ONNX Runtime streamed (chunked vocoder), OpenVINO fp32 and OpenVINO bf16 (vocoder in bf16; when
openvino is installed and the CPU has bf16), variants alternated per repeat, on the ~10 s sentence: RTF,
vocoder RTF, time to first audio, max |difference| and SNR against eager fp32; then the start cost of each
snapshot runtime in fresh processes (``--start-runs``, alternated): import of the runtime library, graph
sessions / compilation, the whole open, warm-up, first request. Written to
bench/results/emotivoice_runtimes.json.

Random weights have the released shapes and a duration predictor biased to ~5 frames per token, so the
work per second of audio is that of the real model. The machine is shared: every figure is a median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from function.engines.base import SynthesisRequest  # noqa: E402
from function.engines.emotivoice.engine import EmotiVoiceEngine  # noqa: E402
from function.engines.emotivoice.loader import load_home  # noqa: E402
from function.engines.emotivoice.runtime import keep_freed_memory  # noqa: E402
from testkit.random_home import write_home  # noqa: E402

SHARED = ROOT.parent / "shared" / "emotivoice"
# ~10.5 s of audio at 5 frames per token
TEN_SECONDS = "今天天气真好啊，我们一起去公园散步吧，顺便看看湖边的风景和盛开的花朵，然后再去吃一顿美味的午饭。"
SHORT = "欢迎使用情感语音合成服务。"
LONG = (
    "春天来了，公园里的花都开了。孩子们在草地上奔跑，笑声传得很远。老人们坐在长椅上，晒着太阳聊着天。"
    "湖面上有几只小船慢慢地划过。远处的山上还有一点没有化完的雪。Spring is the season of new beginnings. "
    "我们沿着小路走到了湖的另一边。那里有一家小小的茶馆，茶香扑鼻。"
)


def median_of(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def synth(engine: EmotiVoiceEngine, text: str, prompt: str = "开心") -> tuple[float, float, dict[str, float]]:
    """(wall seconds, audio seconds, summed stage timings) for one request, consumed to the end."""
    started = time.perf_counter()
    chunks = list(engine.synthesize(SynthesisRequest(text=text, voice="8051", prompt=prompt)))
    wall = time.perf_counter() - started
    stages: dict[str, float] = {}
    for chunk in chunks:
        for key, value in chunk.timings.items():
            stages[key] = stages.get(key, 0.0) + value
    return wall, sum(c.duration_seconds for c in chunks), stages


def first_chunk_latency(engine: EmotiVoiceEngine, text: str) -> float:
    started = time.perf_counter()
    next(iter(engine.synthesize(SynthesisRequest(text=text, voice="8051", prompt="开心"))))
    return time.perf_counter() - started


def run(home: Path, precision: str, repeats: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    loaded = load_home(home)
    load_s = time.perf_counter() - started
    engine = EmotiVoiceEngine(loaded, precision=precision)
    warm_s = timed(engine.warm_up)
    rows += [("load home (s)", f"{load_s:.2f}"), ("warm-up (s)", f"{warm_s:.2f}")]

    # frontend per sentence, after start-up
    sentences = [TEN_SECONDS, SHORT, "Hello world, this is a mixed 中英文 sentence with 3 numbers."]
    per = median_of(lambda: timed(lambda: [engine.frontend(s) for s in sentences]) / len(sentences), repeats * 4)
    rows.append(("frontend per sentence (ms)", f"{per * 1e3:.2f}"))

    # BERT: a new prompt (cold) vs a cached one (warm)
    def cold_prompt() -> float:
        engine.prompts.clear()
        return timed(lambda: engine.prompts.get("用一种非常温柔而且缓慢的语气说"))

    rows.append(("style vector, cold prompt (ms)", f"{median_of(cold_prompt, repeats) * 1e3:.1f}"))
    engine.prompts.get("开心")
    passes = engine.stats["bert_passes"]
    warm_ms = median_of(lambda: timed(lambda: engine.prompts.get("开心")), repeats) * 1e3
    rows.append(("style vector, cached prompt (ms)", f"{warm_ms:.3f} ({engine.stats['bert_passes'] - passes} BERT passes)"))
    rows.append(("content vector, 1 sentence (ms)", f"{median_of(lambda: timed(lambda: engine._bert_vectors([TEN_SECONDS])), repeats) * 1e3:.1f}"))

    # stages for the ~10 s utterance
    _, ids = engine.frontend(TEN_SECONDS)
    style = engine.prompts.get("开心")[None]
    content = engine._bert_vectors([TEN_SECONDS])
    frames = engine.acoustic([ids], 0, style, content, 1.0)[0]
    audio_s = frames.shape[0] * engine.hop / engine.sample_rate
    am = median_of(lambda: timed(lambda: engine.acoustic([ids], 0, style, content, 1.0)), repeats)
    voc = median_of(lambda: timed(lambda: engine.vocode(frames)), repeats)
    rows += [
        ("utterance", f"{len(ids)} tokens, {frames.shape[0]} frames, {audio_s:.2f} s audio"),
        ("acoustic model (s)", f"{am:.3f}"),
        ("vocoder (s) / RTF", f"{voc:.3f} / {voc / audio_s:.3f}"),
    ]

    # end to end, warm prompt cache and cold prompt cache
    warm = [synth(engine, TEN_SECONDS) for _ in range(repeats)]
    rtf_warm = statistics.median(w / a for w, a, _ in warm)
    stage_med = {k: statistics.median(s[k] for _, _, s in warm) for k in warm[0][2]}

    def cold_run() -> float:
        engine.prompts.clear()
        wall, audio, _ = synth(engine, TEN_SECONDS, prompt="开心")
        return wall / audio

    rtf_cold = median_of(cold_run, repeats)
    rows += [
        ("end-to-end RTF, warm prompt cache", f"{rtf_warm:.3f}"),
        ("end-to-end RTF, cold prompt cache", f"{rtf_cold:.3f}"),
        ("  stages (s): " + ", ".join(stage_med), ", ".join(f"{v:.3f}" for v in stage_med.values())),
    ]

    # long text, batch sizes
    engine.prompts.get("开心")
    for batch in (1, 4, 8):
        engine.batch_size = batch
        results = [synth(engine, LONG) for _ in range(max(2, repeats // 2))]
        rtf = statistics.median(w / a for w, a, _ in results)
        am_total = statistics.median(s["acoustic"] for _, _, s in results)
        first = median_of(lambda: first_chunk_latency(engine, LONG), max(2, repeats // 2))
        rows.append(
            (f"long text ({results[0][1]:.1f} s audio), batch {batch}",
             f"RTF {rtf:.3f}, acoustic total {am_total:.3f} s, first chunk {first:.2f} s")
        )
    engine.batch_size = 4
    return rows


# One fresh process per runtime and run: import the runtime library, open the snapshot (graphs/archives,
# frontend tables), warm up, first request. Stage marks are the loaders' own (StageClock, cumulative).
START_CODE = """
import json, sys, time
sys.path.insert(0, {root!r})
kind, snapshot, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if kind == "torchscript":
    import torch
    torch.set_num_threads(threads)
elif kind == "onnx":
    import onnxruntime
else:
    import openvino
import_s = time.perf_counter() - t0
from function.engines.base import SynthesisRequest
t1 = time.perf_counter()
if kind == "torchscript":
    from function.engines.emotivoice.snapshot_runtime import open_snapshot
    engine = open_snapshot(snapshot)
elif kind == "onnx":
    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot
    engine = open_onnx_snapshot(snapshot, threads=threads)
else:
    from function.engines.emotivoice.openvino_runtime import open_openvino_snapshot
    engine = open_openvino_snapshot(snapshot, threads=threads, precision=kind.split()[-1])
open_s = time.perf_counter() - t1
t2 = time.perf_counter()
engine.warm_up()
warm_s = time.perf_counter() - t2
t3 = time.perf_counter()
list(engine.synthesize(SynthesisRequest(text={short!r}, voice="8051", prompt="开心")))
first_s = time.perf_counter() - t3
previous, graphs_s = 0.0, 0.0
for stage, at in engine.load_stages.items():
    if stage.split()[0] in ("session", "compile", "read", "first", "map"):
        graphs_s += at - previous
    previous = at
print(json.dumps({{"import_s": import_s, "graphs_s": graphs_s, "open_s": open_s, "warm_up_s": warm_s,
                  "first_request_s": first_s, "stages": engine.load_stages}}))
"""
START_KINDS = ("torchscript", "onnx", "openvino fp32", "openvino bf16")


def start_costs(snapshot: Path, runs: int, threads: int, kinds: tuple[str, ...] = START_KINDS) -> dict[str, dict[str, float]]:
    """Start cost per runtime, each run in a fresh process (warm page cache), kinds alternated: import of the
    runtime library, graph sessions/compilation (``graphs_s``, from the loader's stage marks), whole open
    (graphs + engine package + frontend tables), warm-up, and a first short request."""
    import json
    import subprocess

    code = START_CODE.format(root=str(ROOT), short=SHORT)
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind in kinds:
            out = subprocess.run([sys.executable, "-c", code, kind, str(snapshot), str(threads)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                print(f"start cost {kind}: failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            samples[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("import_s", "graphs_s", "open_s", "warm_up_s", "first_request_s")
    result = {kind: {key: statistics.median(r[key] for r in rows) for key in keys} for kind, rows in samples.items() if rows}
    for row in result.values():
        row["start_s"] = row["import_s"] + row["open_s"] + row["warm_up_s"]  # process up to ready, less the server
    print(f"\n== start cost per runtime, fresh process each, medians of {runs} (alternated), {threads} threads ==")
    print(f"{'runtime':<16}{'import s':>10}{'graphs s':>10}{'open s':>8}{'warm-up s':>11}{'ready s':>9}{'1st req s':>11}")
    for kind, row in result.items():
        print(f"{kind:<16}{row['import_s']:>10.3f}{row['graphs_s']:>10.3f}{row['open_s']:>8.3f}{row['warm_up_s']:>11.3f}"
              f"{row['start_s']:>9.3f}{row['first_request_s']:>11.3f}")
    return result


def compare_runtimes(home: Path, snapshot: Path, repeats: int, threads: int, start_runs: int = 3) -> dict[str, dict[str, float]]:
    """Per-runtime RTF / vocoder RTF / first audio / difference, variants alternated so machine load hits
    them alike; then the start cost of each snapshot runtime (fresh processes)."""
    import json

    import numpy as np

    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot
    from function.engines.emotivoice.snapshot_runtime import open_snapshot

    engines = {"eager fp32": EmotiVoiceEngine(load_home(home)), "eager bf16": EmotiVoiceEngine(load_home(home), precision="bf16"),
               "torchscript": open_snapshot(snapshot), "onnx": open_onnx_snapshot(snapshot, threads=threads)}
    notes: dict[str, str] = {}
    try:
        import openvino

        from function.engines.emotivoice.openvino_runtime import cpu_capabilities, open_openvino_snapshot

        engines["openvino fp32"] = open_openvino_snapshot(snapshot, threads=threads)
        if "BF16" in cpu_capabilities(openvino.Core()):
            engines["openvino bf16"] = open_openvino_snapshot(snapshot, threads=threads, precision="bf16")
        else:
            notes["openvino bf16"] = "skipped: no BF16 in OpenVINO's OPTIMIZATION_CAPABILITIES on this CPU"
    except ImportError:
        notes["openvino"] = "skipped: openvino is not installed (pip install '.[openvino]')"
    vocoder_s: dict[str, float] = {}

    def timed_vocoder(key: str, vocode: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        def call(mel: np.ndarray) -> np.ndarray:  # the chunks' own "vocoder" timing misses whole-sentence calls
            started = time.perf_counter()
            try:
                return vocode(mel)
            finally:
                vocoder_s[key] = vocoder_s.get(key, 0.0) + time.perf_counter() - started
        return call

    for key, engine in engines.items():
        engine.warm_up()
        engine.prompts.get("开心")
        engine.networks.vocode = timed_vocoder(key, engine.networks.vocode)  # type: ignore[method-assign]
    request = SynthesisRequest(text=TEN_SECONDS, voice="8051", prompt="开心")
    reference = np.concatenate([c.pcm for c in engines["eager fp32"].synthesize(request)])
    variants = [(name, name, False) for name in engines] + [("onnx streamed", "onnx", True)]
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name, _, _ in variants}
    diffs: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, key, streamed in variants:
            engine = engines[key]
            started = time.perf_counter()
            chunks = engine.synthesize_streaming(request) if streamed else engine.synthesize(request)
            first = None
            pcm = []
            vocoder_s[key] = 0.0
            for chunk in chunks:
                first = first if first is not None else time.perf_counter() - started
                pcm.append(chunk.pcm)
            wall = time.perf_counter() - started
            vocoder = vocoder_s[key]
            audio = np.concatenate(pcm)
            seconds = len(audio) / engine.sample_rate
            samples[name].append((wall / seconds, float(first), wall, vocoder / seconds))
            if len(audio) == len(reference):
                error = float(((audio - reference) ** 2).sum())
                snr = round(10 * float(np.log10(float((reference ** 2).sum()) / error)), 1) if error > 0 else None
                diffs[name] = (float(np.abs(audio - reference).max()), snr)  # None: identical (strict JSON)
    out = {name: {"rtf": statistics.median(s[0] for s in rows), "first_audio_s": statistics.median(s[1] for s in rows),
                  "total_s": statistics.median(s[2] for s in rows),
                  "vocoder_rtf": statistics.median(s[3] for s in rows),
                  "max_abs_diff_vs_eager_fp32": diffs.get(name, (float("nan"),))[0],
                  "snr_db_vs_eager_fp32": diffs.get(name, (0, None))[1]}
           for name, rows in samples.items()}
    onnx_rtf = out["onnx"]["rtf"]
    print(f"\n== runtimes, ~10 s sentence, {threads} threads, medians of {repeats} (alternated) ==")
    print(f"{'runtime':<16}{'RTF':>8}{'vs onnx':>9}{'vocoder RTF':>13}{'first audio s':>15}{'total s':>9}"
          f"{'max |d| vs eager':>18}{'SNR dB':>8}")
    for name, row in out.items():
        print(f"{name:<16}{row['rtf']:>8.3f}{row['rtf'] / onnx_rtf:>9.2f}{row['vocoder_rtf']:>13.3f}"
              f"{row['first_audio_s']:>15.3f}{row['total_s']:>9.3f}{row['max_abs_diff_vs_eager_fp32']:>18.2e}"
              f"{'-' if row['snr_db_vs_eager_fp32'] is None else row['snr_db_vs_eager_fp32']:>8}")
    for name, note in notes.items():
        print(f"{name}: {note}")
    for engine in engines.values():
        engine.close()
    engines.clear()
    kinds = tuple(k for k in START_KINDS if not any(k.startswith(n) for n in notes))
    start = start_costs(snapshot, start_runs, threads, kinds) if start_runs > 0 else {}
    flags = Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0] if Path("/proc/cpuinfo").exists() else ""
    machine = {"cpu_bf16": [f for f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16") if f" {f}" in flags],
               "openvino": _version("openvino"), "onnxruntime": _version("onnxruntime"), "torch": torch.__version__}
    results = ROOT / "bench" / "results" / "emotivoice_runtimes.json"
    results.write_text(json.dumps({"threads": threads, "repeats": repeats, "runtimes": out, "start_runs": start_runs,
                                   "start": start, "notes": notes, "machine": machine}, indent=1) + "\n")
    return out


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="EmotiVoice home (default: a full-size random one)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--snapshot", type=Path, default=None, help="snapshot with ONNX graphs: compare runtimes")
    parser.add_argument("--runtimes-only", action="store_true", help="only the per-runtime comparison")
    parser.add_argument("--start-runs", type=int, default=3,
                        help="fresh processes per snapshot runtime for the start cost (0: skip)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    keep_freed_memory()
    home = args.home
    if home is None:
        home = Path(tempfile.gettempdir()) / "emotivoice-bench-home-full"
        if not (home / "outputs").is_dir():
            print(f"writing a full-size random home to {home} ...", file=sys.stderr)
            write_home(home, "full", SHARED if SHARED.is_dir() else None,
                       progress=lambda m: print("  " + m, file=sys.stderr))
    print(f"home {home}, torch {torch.__version__}, {args.threads} threads, medians of {args.repeats}")
    if args.snapshot is not None:
        compare_runtimes(home, args.snapshot, args.repeats, args.threads, args.start_runs)
        if args.runtimes_only:
            return 0
    for precision in args.precision:
        rows = run(home, precision, args.repeats)
        width = max(len(k) for k, _ in rows)
        print(f"\n== precision {precision} ==")
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

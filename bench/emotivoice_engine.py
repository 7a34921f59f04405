"""Benchmark the EmotiVoice engine at full size: per-stage times, end-to-end real-time factor, prompt cache
cold vs warm, and batch sizes 1/4/8 for long text.

    .venv/bin/python bench/emotivoice_engine.py                 # builds a full-size random home if needed
    .venv/bin/python bench/emotivoice_engine.py --home DIR --threads 2 --repeats 5 --precision fp32 bf16
    .venv/bin/python bench/emotivoice_engine.py --home DIR --snapshot SNAP --runtimes-only   # issue 13

``--snapshot`` adds the per-runtime comparison (issue 13): eager fp32/bf16, TorchScript snapshot, ONNX
snapshot, and ONNX streamed (chunked vocoder), variants alternated per repeat, on the ~10 s sentence: RTF,
time to first audio, and max |difference| from eager fp32. Written to bench/results/emotivoice_runtimes.json.

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


def compare_runtimes(home: Path, snapshot: Path, repeats: int, threads: int) -> dict[str, dict[str, float]]:
    """Per-runtime RTF / first audio / difference, variants alternated so machine load hits them alike."""
    import json

    import numpy as np

    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot
    from function.engines.emotivoice.snapshot_runtime import open_snapshot

    engines = {"eager fp32": EmotiVoiceEngine(load_home(home)), "eager bf16": EmotiVoiceEngine(load_home(home), precision="bf16"),
               "torchscript": open_snapshot(snapshot), "onnx": open_onnx_snapshot(snapshot, threads=threads)}
    for engine in engines.values():
        engine.warm_up()
        engine.prompts.get("开心")
    request = SynthesisRequest(text=TEN_SECONDS, voice="8051", prompt="开心")
    reference = np.concatenate([c.pcm for c in engines["eager fp32"].synthesize(request)])
    variants = [(name, name, False) for name in engines] + [("onnx streamed", "onnx", True)]
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in variants}
    diffs: dict[str, float] = {}
    for _ in range(repeats):
        for name, key, streamed in variants:
            engine = engines[key]
            started = time.perf_counter()
            chunks = engine.synthesize_streaming(request) if streamed else engine.synthesize(request)
            first = None
            pcm = []
            for chunk in chunks:
                first = first if first is not None else time.perf_counter() - started
                pcm.append(chunk.pcm)
            wall = time.perf_counter() - started
            audio = np.concatenate(pcm)
            samples[name].append((wall / (len(audio) / engine.sample_rate), float(first), wall))
            if len(audio) == len(reference):
                diffs[name] = float(np.abs(audio - reference).max())
    out = {name: {"rtf": statistics.median(s[0] for s in rows), "first_audio_s": statistics.median(s[1] for s in rows),
                  "total_s": statistics.median(s[2] for s in rows), "max_abs_diff_vs_eager_fp32": diffs.get(name, float("nan"))}
           for name, rows in samples.items()}
    print(f"\n== runtimes, ~10 s sentence, {threads} threads, medians of {repeats} (alternated) ==")
    print(f"{'runtime':<16}{'RTF':>8}{'first audio s':>15}{'total s':>9}{'max |d| vs eager':>18}")
    for name, row in out.items():
        print(f"{name:<16}{row['rtf']:>8.3f}{row['first_audio_s']:>15.3f}{row['total_s']:>9.3f}"
              f"{row['max_abs_diff_vs_eager_fp32']:>18.2e}")
    results = ROOT / "bench" / "results" / "emotivoice_runtimes.json"
    results.write_text(json.dumps({"threads": threads, "repeats": repeats, "runtimes": out}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="EmotiVoice home (default: a full-size random one)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--snapshot", type=Path, default=None, help="snapshot with ONNX graphs: compare runtimes")
    parser.add_argument("--runtimes-only", action="store_true", help="only the per-runtime comparison")
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
        compare_runtimes(home, args.snapshot, args.repeats, args.threads)
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

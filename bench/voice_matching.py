"""Voice matching quality on audio we can make here: espeak speaks reference clips with KNOWN voices.

1. Top-1 accuracy: every built-in espeak voice speaks reference texts that are not the index's probe
   sentences, under three conditions (neutral; an emotion prompt, which changes pitch, range and rate;
   speed 1.3); each clip is matched against the espeak voice index. Correct = the heaviest match is the
   voice that spoke.
2. Speaker similarity (the same resemblyzer encoder): cosine between the reference clip and a NEW
   sentence synthesised with the matched custom voice, versus with the default voice ("alloy"), and versus
   the mean over all built-in voices. Also for clips from espeak variants that are NOT built-in voices
   (en-us+f1, +m5, ...), where no exact answer exists and only similarity can be measured.
3. Cost: index build, and per clip decode + trim + embed + match.

    .venv/bin/python bench/voice_matching.py [--out bench/results/voice_matching.json]

Uses the service's own pieces (decode, prepare, encoder, index, nearest) in-process; no server.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from function.audio.decode import decode_clip  # noqa: E402
from function.engines.base import SynthesisRequest  # noqa: E402
from function.engines.espeak.engine import EspeakEngine  # noqa: E402
from function.engines.espeak.library import Prosody, shared_library  # noqa: E402
from function.engines.matching.encoder import shared_encoder  # noqa: E402
from function.engines.matching.frontend import prepare  # noqa: E402
from function.engines.matching.index import PROBES, build_index  # noqa: E402
from function.engines.matching.match import nearest  # noqa: E402

REFERENCE_TEXTS = {
    "en": ("Good morning everyone, thank you for joining the meeting today. Let us begin with the news.",
           "My grandmother grows tomatoes and roses in the little garden behind her house.",
           "If the train is late again, we should take a taxi to the airport instead."),
    "zh": ("我们明天早上八点在学校门口见面，不要迟到。",
           "这家饭馆的饺子特别好吃，每天都有很多人排队。",
           "下雨的时候，我喜欢坐在窗边看书喝茶。"),
}
OUTPUT_TEXTS = {"en": "The library opens at ten and closes early on Sundays, so come in the morning.",
                "zh": "图书馆上午十点开门，星期天很早就关门，所以请早上来。"}
CONDITIONS = {"neutral": {}, "emotion 'very happy'": {"prompt": "very happy"}, "speed 1.3": {"speed": 1.3}}
OUT_OF_SET = ("f1", "f3", "m2", "m4", "m5", "m6")  # en-us variants no built-in voice uses
DEFAULT_VOICE = "alloy"
TOP_K = 3


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, pcm, rate, format="WAV")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice_matching.json")
    args = parser.parse_args()
    for language, probes in PROBES.items():  # the honesty condition of the measurement
        assert not set(probes) & set(REFERENCE_TEXTS[language]) and OUTPUT_TEXTS[language] not in probes

    engine = EspeakEngine()
    started = time.perf_counter()
    encoder = shared_encoder()
    encoder_load = time.perf_counter() - started
    started = time.perf_counter()
    index = build_index(engine, encoder, model_id="bench")
    index_build = time.perf_counter() - started
    voices = {v.id: v for v in engine.voices()}

    def speak(voice: str, text: str, **kw: object) -> np.ndarray:
        request = SynthesisRequest(text=text, voice=voice, **kw)  # type: ignore[arg-type]
        return np.concatenate([c.pcm for c in engine.synthesize(request)])

    def embed(pcm: np.ndarray) -> np.ndarray:
        return encoder.embed(prepare(pcm, engine.sample_rate).wav)

    output_cache: dict[str, np.ndarray] = {}

    def output_embedding(voice: str) -> np.ndarray:
        language = voices[engine.resolve_voice(voice).id].language
        key = f"{voice}:{language}"
        if key not in output_cache:
            output_cache[key] = embed(speak(voice, OUTPUT_TEXTS[language]))
        return output_cache[key]

    rows: list[dict[str, object]] = []
    match_seconds: list[float] = []
    for condition, extra in CONDITIONS.items():
        for voice in voices.values():
            for text in REFERENCE_TEXTS[voice.language]:
                reference = wav_bytes(speak(voice.id, text, **extra), engine.sample_rate)
                t0 = time.perf_counter()
                clip = decode_clip(reference, max_seconds=60)
                trimmed = prepare(clip.pcm, clip.sample_rate)
                ref_embedding = encoder.embed(trimmed.wav)
                matches = nearest(index, ref_embedding, TOP_K)
                match_seconds.append(time.perf_counter() - t0)
                matched = matches[0].voice
                rows.append({
                    "condition": condition, "voice": voice.id, "text": text[:24], "matched": matched,
                    "correct": matched == voice.id, "weight": matches[0].weight,
                    "speech_seconds": round(trimmed.seconds, 2),
                    "sim_matched": float(ref_embedding @ output_embedding(matched)),
                    "sim_default": float(ref_embedding @ output_embedding(DEFAULT_VOICE)),
                    "sim_all_mean": float(np.mean([ref_embedding @ output_embedding(v) for v in voices])),
                })

    # Variants that are no built-in voice: nothing to be right about; similarity only.
    library = shared_library()
    out_of_set: list[dict[str, object]] = []
    for variant in OUT_OF_SET:
        for text in REFERENCE_TEXTS["en"]:
            raw = library.synthesize(text, f"en-us+{variant}", Prosody())
            pcm = raw.astype(np.float32) / 32768.0
            ref_embedding = embed(pcm)
            matched = nearest(index, ref_embedding, TOP_K)[0].voice
            out_of_set.append({"variant": variant, "matched": matched,
                               "sim_matched": float(ref_embedding @ output_embedding(matched)),
                               "sim_default": float(ref_embedding @ output_embedding(DEFAULT_VOICE))})

    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 4)

    summary: dict[str, object] = {
        "engine": f"espeak ({engine.version}), {len(voices)} built-in voices",
        "encoder": encoder.version,
        "clips": len(rows),
        "top1_accuracy": round(sum(bool(r["correct"]) for r in rows) / len(rows), 4),
        "top1_accuracy_by_condition": {c: round(sum(bool(r["correct"]) for r in rows if r["condition"] == c)
                                                / sum(1 for r in rows if r["condition"] == c), 4) for c in CONDITIONS},
        "similarity_reference_vs_output": {
            "matched_voice": mean([float(r["sim_matched"]) for r in rows]),  # type: ignore[arg-type]
            "default_voice": mean([float(r["sim_default"]) for r in rows]),  # type: ignore[arg-type]
            "mean_over_all_builtin_voices": mean([float(r["sim_all_mean"]) for r in rows]),  # type: ignore[arg-type]
        },
        "out_of_set_variants": {
            "clips": len(out_of_set),
            "similarity_matched_voice": mean([float(r["sim_matched"]) for r in out_of_set]),  # type: ignore[arg-type]
            "similarity_default_voice": mean([float(r["sim_default"]) for r in out_of_set]),  # type: ignore[arg-type]
            "matched": sorted({f"{r['variant']}->{r['matched']}" for r in out_of_set}),
        },
        "seconds": {"encoder_load": round(encoder_load, 3), "index_build": round(index_build, 2),
                    "match_per_clip_median": round(statistics.median(match_seconds), 4)},
        "errors": [f"{r['condition']}: {r['voice']} -> {r['matched']}" for r in rows if not r["correct"]],
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "clips": rows, "out_of_set": out_of_set},
                                   ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()

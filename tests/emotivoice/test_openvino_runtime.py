"""The OpenVINO runtime of a snapshot's ONNX graphs (issue 13): fp32 parity with ONNX Runtime and eager,
bf16 (vocoder only) within a stated bound, no torch in the serving process, thread-safe concurrent
synthesis, refusals, runtime selection rules, readiness and metrics.

The tiny snapshot is the session's one (``tiny_snapshot`` in tests/conftest.py, built through the real
build)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from function.engines.base import EngineLoadError, SynthesisRequest
from function.engines.emotivoice import snapshot_format as fmt

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
# EMOTIVOICE_PRECISION=bf16 on OpenVINO (vocoder in bf16) against fp32, tiny random weights, on the
# waveform (peak ~0.9): measured max |diff| 3.8e-2 .. 4.7e-2 and SNR 34-35 dB, as the eager torch path's
# bf16 vocoder (4.5e-2 .. 6.0e-2, 33.5-34.4 dB); full-size figures in the README. Lengths never change.
BF16_MAX_ABS_DIFF = 0.1
BF16_MIN_SNR_DB = 28.0
TEXTS = [("春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", "悲伤", 1.0),
         ("OpenVINO should sound exactly like the eager engine.", "a brand new prompt", 1.3)]


def _openvino(directory: Path, precision: str = "fp32"):
    from function.engines.emotivoice.openvino_runtime import open_openvino_snapshot

    return open_openvino_snapshot(directory, threads=1, precision=precision)


def _bf16_or_skip() -> None:
    import openvino

    from function.engines.emotivoice.openvino_runtime import cpu_capabilities

    if "BF16" not in cpu_capabilities(openvino.Core()):
        pytest.skip("this CPU has no bf16 support in OpenVINO")


def _speak(engine, text: str, prompt: str, speed: float) -> list[np.ndarray]:
    return [c.pcm for c in engine.synthesize(SynthesisRequest(text=text, voice="8051", prompt=prompt, speed=speed))]


def _edit_manifest(directory: Path, edit) -> None:
    manifest = json.loads((directory / fmt.MANIFEST).read_text())
    edit(manifest)
    (directory / fmt.MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def ov_fp32(tiny_snapshot):
    engine = _openvino(tiny_snapshot[0])
    engine.warm_up()
    return engine


# --- parity ---------------------------------------------------------------------------------------

def test_fp32_matches_eager_and_onnxruntime_within_the_snapshot_tolerance(ov_fp32, tiny_snapshot, tiny_home) -> None:
    from function.engines.emotivoice import load
    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot
    from function.settings import Settings

    tolerance = tiny_snapshot[1]["onnx"]["parity"]["tolerance_max_abs_diff"]
    eager = load(Settings(home=tiny_home))
    ort = open_onnx_snapshot(tiny_snapshot[0], threads=1)
    assert ov_fp32.runtime == "openvino" and ov_fp32.precision == "fp32"
    for text, prompt, speed in TEXTS:
        a, b, c = _speak(eager, text, prompt, speed), _speak(ort, text, prompt, speed), _speak(ov_fp32, text, prompt, speed)
        assert [len(x) for x in a] == [len(x) for x in c] == [len(x) for x in b]
        assert max(float(np.abs(x - y).max()) for x, y in zip(a, c)) <= tolerance
        assert max(float(np.abs(x - y).max()) for x, y in zip(b, c)) <= tolerance


def test_bert_pooler_keeps_its_tanh(tiny_snapshot) -> None:
    """OpenVINO's own com.microsoft.FusedGemm translator applies ReLU for a Tanh activation (BERT's pooler,
    fused by ONNX Runtime's offline optimisation): our translator keeps negative outputs."""
    import onnxruntime

    from function.engines.emotivoice.openvino_runtime import OpenVinoNetworks, compile_graphs

    import openvino

    compiled = compile_graphs(openvino.Core(), tiny_snapshot[0], threads=1, precision="fp32")
    networks = OpenVinoNetworks(compiled, np.zeros((1, 1), np.float32))
    session = onnxruntime.InferenceSession(str(tiny_snapshot[0] / fmt.ONNX_BERT), providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(1, 100, size=(2, 30)).astype(np.int64)
    lengths = np.array([30, 21], dtype=np.int64)
    want = session.run(None, {"ids": ids, "lengths": lengths})[0]
    got = networks.bert(ids, lengths)
    assert (want < 0).any() and (got < 0).any()
    assert float(np.abs(want - got).max()) < 1e-4


def test_bf16_runs_the_vocoder_only_and_stays_within_its_bound(ov_fp32, tiny_snapshot) -> None:
    from function.engines.emotivoice.openvino_runtime import BF16_GRAPHS, graph_hint

    _bf16_or_skip()
    assert BF16_GRAPHS == {fmt.ONNX_VOCODER}
    assert [graph_hint(g, "bf16") for g in fmt.GRAPHS] == ["f32", "f32", "bf16"]
    engine = _openvino(tiny_snapshot[0], "bf16")
    assert engine.precision == "bf16" and engine.networks.precision == "bf16"
    hints = {name: str(compiled.get_property("INFERENCE_PRECISION_HINT"))
             for name, compiled in ((fmt.ONNX_BERT, engine.parts.bert), (fmt.ONNX_ACOUSTIC, engine.parts.acoustic),
                                    (fmt.ONNX_VOCODER, engine.parts.vocoder))}
    assert "bfloat16" in hints[fmt.ONNX_VOCODER] and "float32" in hints[fmt.ONNX_BERT] and "float32" in hints[fmt.ONNX_ACOUSTIC]
    for text, prompt, speed in TEXTS:
        a, b = _speak(ov_fp32, text, prompt, speed), _speak(engine, text, prompt, speed)
        assert [len(x) for x in a] == [len(x) for x in b]  # durations come from the fp32 acoustic model
        x, y = np.concatenate(a), np.concatenate(b)
        snr = 10 * np.log10(float((x ** 2).sum()) / float(((x - y) ** 2).sum()))
        assert 0 < float(np.abs(x - y).max()) < BF16_MAX_ABS_DIFF and snr > BF16_MIN_SNR_DB


def test_fp32_is_explicit_never_the_cpu_default(ov_fp32) -> None:
    for compiled in (ov_fp32.parts.bert, ov_fp32.parts.acoustic, ov_fp32.parts.vocoder):
        assert "float32" in str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1


def test_concurrent_synthesis_equals_serial(ov_fp32) -> None:
    """One compiled model per graph shared by every thread; each call has its own infer request."""
    texts = ["今天天气真好。", "Hello there, how are you today?", "我们一起去公园散步吧，然后去吃饭。", "One more, please."]
    serial = {t: np.concatenate(_speak(ov_fp32, t, "开心", 1.0)) for t in texts}
    results: dict[tuple[int, str], np.ndarray] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for text in texts[worker % 2:] + texts[: worker % 2]:
                results[(worker, text)] = np.concatenate(_speak(ov_fp32, text, "开心", 1.0))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 4 * len(texts)
    for (_, text), pcm in results.items():
        assert np.array_equal(pcm, serial[text])


def test_serving_from_openvino_never_imports_torch_or_onnxruntime(tiny_snapshot) -> None:
    """A fresh process loads through the registry, synthesises, and has imported neither torch nor
    onnxruntime."""
    code = (
        "import sys\n"
        "from function.settings import Settings\n"
        "from function.engines.registry import load_engine\n"
        "from function.engines.base import SynthesisRequest\n"
        f"engine, _ = load_engine(Settings(engine='emotivoice', snapshot={str(tiny_snapshot[0])!r}, runtime='openvino', "
        "onnx_threads=1))\n"
        "chunks = list(engine.synthesize(SynthesisRequest(text='你好，hello。', voice='alloy', prompt='开心')))\n"
        "assert chunks and all(len(c.pcm) for c in chunks)\n"
        "print(engine.runtime, engine.precision, 'torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-4:] == ["openvino", "fp32", "False", "False"]


# --- refusals -------------------------------------------------------------------------------------

def test_openvino_not_installed_is_a_clear_refusal(tiny_snapshot, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(EngineLoadError, match=r"openvino is not installed .*\[openvino\]"):
        _openvino(tiny_snapshot[0])


def test_bf16_on_a_cpu_without_bf16_is_refused_not_run_otherwise(tiny_snapshot, monkeypatch) -> None:
    from function.engines.emotivoice import openvino_runtime

    monkeypatch.setattr(openvino_runtime, "cpu_capabilities", lambda core: ["FP32", "INT8"])
    with pytest.raises(EngineLoadError, match="no bf16 support.*FP32, INT8"):
        _openvino(tiny_snapshot[0], "bf16")
    _openvino(tiny_snapshot[0], "fp32")  # fp32 needs nothing special


def test_bf16_on_onnxruntime_points_to_openvino(tiny_snapshot) -> None:
    from function.engines.registry import load_engine
    from function.settings import Settings

    with pytest.raises(EngineLoadError, match="EMOTIVOICE_RUNTIME=openvino"):
        load_engine(Settings(engine="emotivoice", snapshot=tiny_snapshot[0], runtime="onnx", precision="bf16"))


def test_snapshot_without_graphs_is_refused(snapshot_copy: Path) -> None:
    _edit_manifest(snapshot_copy, lambda m: m.pop("onnx"))
    with pytest.raises(EngineLoadError, match="no ONNX graphs"):
        _openvino(snapshot_copy)


def test_other_engine_version_is_refused_but_not_another_onnxruntime(snapshot_copy: Path) -> None:
    _edit_manifest(snapshot_copy, lambda m: m["onnx"].update(onnxruntime_version="1.0.0"))
    assert _openvino(snapshot_copy).runtime == "openvino"  # OpenVINO reads the graphs itself
    _edit_manifest(snapshot_copy, lambda m: m.update(engine_version="clean-room-0"))
    with pytest.raises(EngineLoadError, match="clean-room-0"):
        _openvino(snapshot_copy)


def test_truncated_graph_is_a_clear_error(snapshot_copy: Path) -> None:
    path = snapshot_copy / f"{fmt.ONNX_VOCODER}.data"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(EngineLoadError, match="vocoder.onnx.data is truncated"):
        _openvino(snapshot_copy)


# --- runtime selection ----------------------------------------------------------------------------

def test_rule_openvino_is_taken_as_asked_and_auto_never_picks_it(tiny_snapshot, tiny_home) -> None:
    from function.engines.registry import choose_runtime
    from function.settings import Settings

    assert choose_runtime(Settings(snapshot=tiny_snapshot[0], runtime="openvino")) == "openvino"
    assert choose_runtime(Settings(snapshot=tiny_snapshot[0], runtime="openvino", precision="bf16")) == "openvino"
    assert choose_runtime(Settings(snapshot=tiny_snapshot[0])) == "onnx"  # openvino installed, still not auto's
    with pytest.raises(EngineLoadError, match="EMOTIVOICE_SNAPSHOT"):
        choose_runtime(Settings(home=tiny_home, runtime="openvino"))


def test_environment_selects_openvino(monkeypatch) -> None:
    from function.settings import Settings

    monkeypatch.setenv("EMOTIVOICE_RUNTIME", "openvino")
    monkeypatch.setenv("EMOTIVOICE_PRECISION", "bf16")
    settings = Settings()
    assert (settings.runtime, settings.precision) == ("openvino", "bf16")


def test_readiness_and_metrics_name_openvino(tiny_snapshot) -> None:
    import httpx

    from tests.conftest import run_server

    with run_server(engine="emotivoice", snapshot=tiny_snapshot[0], runtime="openvino", onnx_threads=1) as srv:
        r = httpx.get(f"{srv.url}/health/readiness", timeout=5)
        assert r.status_code == 200 and '"runtime":"openvino"' in r.text.replace(" ", "")
        assert 'runtime="openvino"' in httpx.get(f"{srv.url}/metrics", timeout=5).text

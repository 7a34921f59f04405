"""ONNX graphs in the snapshot (issue 13): export round trip and parity, the torch-free serving process,
runtime selection rules, refusal of graphs from another onnxruntime or engine version, speaker mixing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from function.engines.base import EngineLoadError, SynthesisRequest, VoiceMix
from function.engines.emotivoice import snapshot_format as fmt

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]


def _onnx(directory: Path):
    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot

    return open_onnx_snapshot(directory, threads=1)


def _edit_manifest(directory: Path, edit) -> None:
    manifest = json.loads((directory / fmt.MANIFEST).read_text())
    edit(manifest)
    (directory / fmt.MANIFEST).write_text(json.dumps(manifest))


def test_manifest_records_onnx_version_files_and_parity(tiny_snapshot) -> None:
    import onnxruntime

    directory, manifest = tiny_snapshot
    onnx = manifest["onnx"]
    assert onnx["onnxruntime_version"] == onnxruntime.__version__
    assert onnx["opset"] == 17 and onnx["external_data"] and onnx["optimisation"] == "ORT_ENABLE_EXTENDED"
    assert onnx["parity"]["passed"] and onnx["parity"]["sentences"] == manifest["parity"]["sentences"]
    assert onnx["parity"]["max_abs_diff"] <= onnx["parity"]["tolerance_max_abs_diff"] == manifest["parity"]["tolerance_max_abs_diff"]
    for name in fmt.ONNX_FILES:
        assert onnx["files"][name]["bytes"] == (directory / name).stat().st_size
    # Weights live in the external data files, not inside the graphs.
    for graph in fmt.GRAPHS:
        assert (directory / f"{graph}.data").stat().st_size > (directory / graph).stat().st_size


def test_onnx_engine_matches_eager_on_fresh_texts(tiny_snapshot, tiny_home) -> None:
    from function.engines.emotivoice import load
    from function.settings import Settings

    eager = load(Settings(home=tiny_home))
    engine = _onnx(tiny_snapshot[0])
    engine.warm_up()
    assert engine.runtime == "onnx" and eager.runtime == "eager"
    for text, prompt, speed in [("春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", "悲伤", 1.0),
                                ("ONNX should sound exactly like the eager engine.", "a brand new prompt", 1.3)]:
        request = SynthesisRequest(text=text, voice="8051", prompt=prompt, speed=speed)
        a = [c.pcm for c in eager.synthesize(request)]
        b = [c.pcm for c in engine.synthesize(request)]
        assert [len(x) for x in a] == [len(x) for x in b]
        assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) <= 1e-3


@pytest.mark.parametrize("runtime", ["eager", "torchscript", "onnx"])
def test_mix_of_one_voice_is_that_voice_exactly_and_a_blend_differs(runtime, tiny_snapshot, tiny_home) -> None:
    from function.engines.emotivoice import load
    from function.engines.emotivoice.snapshot_runtime import open_snapshot
    from function.settings import Settings

    engine = {"eager": lambda: load(Settings(home=tiny_home)), "torchscript": lambda: open_snapshot(tiny_snapshot[0]),
              "onnx": lambda: _onnx(tiny_snapshot[0])}[runtime]()
    assert engine.supports_mix
    voices = [v.id for v in engine.voices()[:2]]

    def speak(voice: str, mix: VoiceMix | None = None) -> np.ndarray:
        request = SynthesisRequest(text="你好，世界。", voice=voice, prompt="开心", mix=mix)
        return np.concatenate([c.pcm for c in engine.synthesize(request)])

    alone = speak(voices[0])
    assert np.array_equal(speak("custom-voice-1", VoiceMix(((voices[0], 1.0),))), alone)
    blend = engine.mix_vector(VoiceMix(((voices[0], 0.25), (voices[1], 0.75))))
    rows = engine.networks.speaker_embeddings
    expected = 0.25 * rows[engine.table.resolve(voices[0])[1]] + 0.75 * rows[engine.table.resolve(voices[1])[1]]
    assert np.allclose(blend, expected, atol=1e-6)
    mixed = speak("custom-voice-2", VoiceMix(((voices[0], 0.25), (voices[1], 0.75))))
    assert len(mixed) != len(alone) or not np.array_equal(mixed, alone)


def test_serving_from_onnx_never_imports_torch(tiny_snapshot) -> None:
    """A fresh process loads through the registry, synthesises, and has not imported torch."""
    code = (
        "import sys\n"
        "from function.settings import Settings\n"
        "from function.engines.registry import load_engine\n"
        "from function.engines.base import SynthesisRequest\n"
        f"engine, _ = load_engine(Settings(engine='emotivoice', snapshot={str(tiny_snapshot[0])!r}, onnx_threads=1))\n"
        "chunks = list(engine.synthesize(SynthesisRequest(text='你好，hello。', voice='alloy', prompt='开心')))\n"
        "assert chunks and all(len(c.pcm) for c in chunks)\n"
        "print(engine.runtime, 'torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-3:] == ["onnx", "False", "True"]


def test_espeak_path_imports_neither_torch_nor_onnxruntime() -> None:
    code = ("import sys\nfrom function.settings import Settings\nfrom function.engines.registry import load_engine\n"
            "load_engine(Settings(engine='espeak'))\nprint('torch' in sys.modules, 'onnxruntime' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if out.returncode != 0 and "espeak" in out.stderr.lower():
        pytest.skip("espeak-ng not available here")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


# --- runtime selection rules ----------------------------------------------------------------------

def test_rule_no_snapshot_auto_is_eager_and_explicit_runtime_is_refused(tiny_home) -> None:
    from function.engines.registry import choose_runtime
    from function.settings import Settings

    assert choose_runtime(Settings(home=tiny_home)) == "eager"
    for runtime in ("onnx", "torchscript"):
        with pytest.raises(EngineLoadError, match="EMOTIVOICE_SNAPSHOT"):
            choose_runtime(Settings(home=tiny_home, runtime=runtime))


def test_rule_auto_takes_onnx_when_graphs_and_onnxruntime_are_there(tiny_snapshot) -> None:
    from function.engines.registry import choose_runtime
    from function.settings import Settings

    assert choose_runtime(Settings(snapshot=tiny_snapshot[0])) == "onnx"


def test_rule_auto_takes_torchscript_without_graphs(snapshot_copy: Path) -> None:
    from function.engines.registry import choose_runtime
    from function.settings import Settings

    _edit_manifest(snapshot_copy, lambda m: m.pop("onnx"))
    assert choose_runtime(Settings(snapshot=snapshot_copy)) == "torchscript"


def test_rule_auto_takes_torchscript_without_onnxruntime(tiny_snapshot, monkeypatch) -> None:
    import importlib.util

    from function.engines.registry import choose_runtime
    from function.settings import Settings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert choose_runtime(Settings(snapshot=tiny_snapshot[0])) == "torchscript"


def test_rule_explicit_runtime_is_taken_as_asked(tiny_snapshot, snapshot_copy: Path) -> None:
    from function.engines.registry import choose_runtime, load_engine
    from function.settings import Settings

    assert choose_runtime(Settings(snapshot=tiny_snapshot[0], runtime="torchscript")) == "torchscript"
    _edit_manifest(snapshot_copy, lambda m: m.pop("onnx"))
    assert choose_runtime(Settings(snapshot=snapshot_copy, runtime="onnx")) == "onnx"
    with pytest.raises(EngineLoadError, match="no ONNX graphs"):  # no silent switch to TorchScript
        load_engine(Settings(engine="emotivoice", snapshot=snapshot_copy, runtime="onnx"))


# --- refusals -------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit,words", [
    (lambda m: m["onnx"].update(onnxruntime_version="1.0.0"), ["onnxruntime 1.0.0", "major.minor"]),
    (lambda m: m.update(engine_version="clean-room-0"), ["clean-room-0"]),
])
def test_other_onnxruntime_or_engine_version_is_refused(snapshot_copy: Path, edit, words: list[str]) -> None:
    import onnxruntime

    _edit_manifest(snapshot_copy, edit)
    with pytest.raises(EngineLoadError) as info:
        _onnx(snapshot_copy)
    for word in words:
        assert word in str(info.value)
    if "onnxruntime" in words[0]:
        assert onnxruntime.__version__ in str(info.value)


def test_onnxruntime_mismatch_keeps_server_live_but_not_ready(snapshot_copy: Path) -> None:
    import httpx

    from tests.conftest import run_server

    _edit_manifest(snapshot_copy, lambda m: m["onnx"].update(onnxruntime_version="0.9.0"))
    with run_server(engine="emotivoice", snapshot=snapshot_copy, runtime="onnx", wait_ready=False) as srv:
        r = srv.readiness_after_load()
        assert r.status_code == 503 and "onnxruntime 0.9.0" in r.text
        assert httpx.get(f"{srv.url}/health/liveness", timeout=2).status_code == 200


def test_readiness_and_metrics_name_the_runtime(tiny_snapshot) -> None:
    import httpx

    from tests.conftest import run_server

    with run_server(engine="emotivoice", snapshot=tiny_snapshot[0], onnx_threads=1) as srv:
        r = httpx.get(f"{srv.url}/health/readiness", timeout=5)
        assert r.status_code == 200 and '"runtime":"onnx"' in r.text.replace(" ", "")
        metrics = httpx.get(f"{srv.url}/metrics", timeout=5).text
        assert 'runtime="onnx"' in metrics


def test_truncated_graph_is_a_clear_error(snapshot_copy: Path) -> None:
    path = snapshot_copy / f"{fmt.ONNX_VOCODER}.data"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(EngineLoadError, match="vocoder.onnx.data is truncated"):
        _onnx(snapshot_copy)


def test_cuda_provider_on_the_cpu_package_is_refused(tiny_snapshot) -> None:
    """EMOTIVOICE_ONNX_PROVIDER=cuda with the CPU onnxruntime (this machine): a load error that names the
    package to install, never a silent run on the CPU. (No GPU here: the CUDA path itself is untested.)"""
    from function.engines.emotivoice.onnx_runtime import open_onnx_snapshot

    with pytest.raises(EngineLoadError, match="onnxruntime-gpu"):
        open_onnx_snapshot(tiny_snapshot[0], threads=1, provider="cuda")

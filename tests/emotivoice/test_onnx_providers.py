"""ONNX Runtime provider choice (``EMOTIVOICE_ONNX_PROVIDER``) and the check that CUDA really came up.

No GPU on the development machines, and their onnxruntime is the CPU package: the provider lists that
onnxruntime(-gpu) would report are faked here, as are the providers a session ends up with. The one test
on a real onnxruntime checks what a CPU-only install does with a CUDA request (it quietly runs on the
CPU), which is exactly what ``check_session`` must catch. Running the graphs on a real GPU is for a
machine with one (the ``emotivoice-gpu`` image; README: GPU).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from function.engines.base import EngineLoadError
from function.engines.emotivoice.onnx_providers import (
    CPU,
    CUDA,
    CUDA_OPTIONS,
    check_session,
    choose_providers,
    provider_names,
)
from function.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

CPU_PACKAGE = ["AzureExecutionProvider", "CPUExecutionProvider"]  # what `onnxruntime` reports
GPU_PACKAGE = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]  # `onnxruntime-gpu`


def test_cpu_is_the_default_and_never_asks_for_cuda() -> None:
    assert Settings.model_fields["onnx_provider"].default == "cpu"
    assert choose_providers("cpu", GPU_PACKAGE) == [CPU]
    assert choose_providers("cpu", CPU_PACKAGE) == [CPU]


def test_cuda_comes_first_with_the_cpu_as_fallback() -> None:
    providers = choose_providers("cuda", GPU_PACKAGE)
    assert provider_names(providers) == [CUDA, CPU]  # not TensorRT: only what was asked for
    assert providers[0] == (CUDA, CUDA_OPTIONS)
    assert CUDA_OPTIONS["cudnn_conv_algo_search"] == "HEURISTIC"  # no per-shape exhaustive benchmarks
    providers[0][1]["device_id"] = "7"  # type: ignore[index]
    assert CUDA_OPTIONS["device_id"] == "0"  # each call gets its own options


def test_cuda_on_the_cpu_package_is_refused_naming_the_fix() -> None:
    with pytest.raises(EngineLoadError) as caught:
        choose_providers("cuda", CPU_PACKAGE)
    message = caught.value.message
    assert "onnxruntime-gpu" in message and "AzureExecutionProvider, CPUExecutionProvider" in message
    assert "EMOTIVOICE_ONNX_PROVIDER=cpu" in message
    assert caught.value.code == "engine_load_failed"  # readiness shows it; the pod is live, not ready


def test_auto_takes_cuda_when_available_else_the_cpu() -> None:
    assert provider_names(choose_providers("auto", GPU_PACKAGE)) == [CUDA, CPU]
    assert choose_providers("auto", CPU_PACKAGE) == [CPU]
    assert choose_providers("auto", []) == [CPU]


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(EngineLoadError, match="not one of cpu, cuda, auto"):
        choose_providers("rocm", GPU_PACKAGE)


def test_a_session_that_fell_back_to_the_cpu_fails_cuda_and_warns_auto(caplog: pytest.LogCaptureFixture) -> None:
    """onnxruntime-gpu lists CUDA even without a GPU; the session then runs on the CPU, which only
    ``session.get_providers()`` shows."""
    requested = choose_providers("cuda", GPU_PACKAGE)
    check_session("cuda", requested, [CUDA, CPU], "vocoder.onnx")  # CUDA came up: fine
    with pytest.raises(EngineLoadError, match=r"could not start CUDA for vocoder\.onnx.*nvidia\.com/gpu"):
        check_session("cuda", requested, [CPU], "vocoder.onnx")
    with caplog.at_level(logging.WARNING, logger="function.engines.emotivoice.onnx_providers"):
        check_session("auto", requested, [CPU], "vocoder.onnx")
    assert "did not start" in caplog.text
    check_session("cpu", [CPU], [CPU], "vocoder.onnx")  # nothing asked, nothing to check
    check_session("auto", [CPU], [CPU], "vocoder.onnx")


def test_a_real_cpu_onnxruntime_quietly_ignores_a_cuda_request_which_check_session_catches(tmp_path: Path) -> None:
    """On the CPU package, a session asked for CUDA first still opens, on the CPU: the silent fallback."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the fallback case needs the CPU package")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    requested = choose_providers("cuda", [CUDA, CPU])  # what onnxruntime-gpu would be asked for
    with pytest.warns(UserWarning, match="not in available provider names"):  # a warning, not an error
        session = ort.InferenceSession(str(path), providers=requested)
    assert session.get_providers() == [CPU]
    with pytest.raises(EngineLoadError, match="could not start CUDA"):
        check_session("cuda", requested, session.get_providers(), path.name)
    session = ort.InferenceSession(str(path), providers=choose_providers("auto", ort.get_available_providers()))
    check_session("auto", [CPU], session.get_providers(), path.name)


def test_the_gpu_image_and_overlay_ask_for_cuda() -> None:
    """The Dockerfile's emotivoice-gpu target runs the snapshot with EMOTIVOICE_ONNX_PROVIDER=cuda on
    onnxruntime-gpu (never the CPU wheel), non-root on 8080; the gpu overlay sets the same provider."""
    text = (ROOT / "Dockerfile").read_text()
    stages = {m.group(2): m.group(0) for m in re.finditer(r"^FROM (\S+) AS (\S+)\n(?:(?!^FROM ).*\n?)*", text, re.M)}
    gpu, deps = stages["emotivoice-gpu"], stages["serve-deps-gpu"]
    assert "EMOTIVOICE_ONNX_PROVIDER=cuda" in gpu and "EMOTIVOICE_RUNTIME=onnx" in gpu
    assert "COPY --from=serve-deps-gpu /opt/venv /opt/venv" in gpu
    assert "COPY --from=snapshot /snapshot /opt/emotivoice/snapshot" in gpu and "/build/home" not in gpu
    assert "USER 10001" in gpu and "EXPOSE 8080" in gpu and '"emotivoice-fn", "serve"' in gpu
    assert "pip uninstall -y onnxruntime" in deps and "onnxruntime-gpu" in deps and "CUDAExecutionProvider" in deps
    assert re.search(r"^FROM \$\{CUDA_IMAGE\} AS cuda-python$", text, re.M)
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+-cudnn-runtime-\S+$", text, re.M)
    assert list(stages)[-1] == "emotivoice"  # the default target stays the CPU image
    config = (ROOT / "knative" / "overlays" / "gpu" / "config.env").read_text()
    assert "EMOTIVOICE_ONNX_PROVIDER=cuda" in config.splitlines()

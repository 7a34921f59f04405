"""Run a snapshot's ONNX graphs on OpenVINO: the second torch-free runtime (issue 13), and the only
snapshot runtime that serves ``EMOTIVOICE_PRECISION=bf16``.

``EMOTIVOICE_RUNTIME=openvino`` reads the same ``bert.onnx`` / ``acoustic.onnx`` / ``vocoder.onnx`` (and
external data) as the ONNX Runtime path, compiles each once with OpenVINO's CPU plugin and shares the
compiled models across requests. The frontend, prompt vectors and speaker table load exactly as for
ONNX Runtime (``onnx_runtime.engine_from_graphs``); only the three networks differ, so the engine is the
same :class:`SnapshotEngine` over :class:`~onnx_runtime.OnnxParts` with ``runtime="openvino"``.
Measured against ONNX Runtime on the full-size graphs, 2 threads, alternated (README): a 10 s sentence
in 0.77-0.83x the time (vocoder RTF 0.22 vs 0.26), but ready 1.73 s vs 0.55 s after process start
(import 0.26 s vs 0.14 s, compiling the three graphs 1.24 s vs 0.12 s for the sessions) and a slower
first request (1.48 s vs 0.93 s), which is why ``EMOTIVOICE_RUNTIME=auto`` keeps ONNX Runtime. A warm-up
synthesis before readiness cost 0.42-0.45 s and saved 0.1-0.3 s of the first request: not done.

Precision. OpenVINO's CPU default inference precision on a CPU with bf16 support is bf16, silently;
here it is always set: ``INFERENCE_PRECISION_HINT=f32`` for fp32 (parity with eager/ONNX Runtime within
the snapshot tolerance, tested) and ``bf16`` only with ``EMOTIVOICE_PRECISION=bf16`` (opt-in), and
then **only for the vocoder** (:data:`BF16_GRAPHS`), as on the eager torch path. Measured on the
full-size graphs, 2 threads (README; bench/results/emotivoice_runtimes.json): the vocoder is ~90 % of a
sentence's time; bf16 on the acoustic model changed the predicted durations (697 instead of 699 frames
on the 11 s test sentence: another length, so no sample-wise parity at all) and was slower (1.00 s vs
0.75 s); on BERT it saves tens of milliseconds on a pass that a cached prompt skips. The bf16 vocoder's
parity against eager fp32 is that of the eager bf16 vocoder (build sentence set: max |diff| 6.0e-2,
SNR 33.6 dB; eager bf16 7.2e-2, 33.2 dB). On the development CPU (AVX512-BF16, no AMX) it was 1.5x
*slower* than f32 (vocoder RTF 0.31 vs 0.21), so it stays opt-in, for CPUs where bf16 is fast (AMX).
A CPU whose OpenVINO ``OPTIMIZATION_CAPABILITIES`` lack ``BF16`` is refused rather than run in fp32
(or emulated) behind the operator's back. (f16, which OpenVINO also lists on AVX512-FP16 CPUs, ran the
vocoder over 100x slower there: not offered.)

Threads and concurrency. ``INFERENCE_NUM_THREADS`` = ``EMOTIVOICE_ONNX_THREADS`` or the pod's CPU limit
(``onnx_runtime.cpu_limit``), one stream, latency mode, no core pinning (a Knative CPU limit is a
quota, not a cpuset: pinning threads to particular cores of a shared node helps nobody). A compiled
model may be shared by threads, an infer request may not: each call takes a request from a small pool
(created on demand, so one per concurrently running call; returned afterwards) and copies its outputs
out, so concurrent ``synthesize`` calls are safe (tested).

A known OpenVINO ONNX-frontend bug is worked around at load: its ``com.microsoft.FusedGemm`` translator
applies ReLU whatever the ``activation`` attribute says, and ONNX Runtime's offline optimisation fused
BERT's pooler (Gemm + Tanh) into exactly that op, which zeroed every negative pooler output (max |diff|
0.9). :func:`fused_gemm` replaces the translator with one that honours the activation (or fails the
load on one it does not know).

Refusals, each an :class:`EngineLoadError` (readiness shows it; the pod stays live, not ready): openvino
not installed, no bf16 on this CPU, and every snapshot refusal of the ONNX path except the onnxruntime
version (OpenVINO reads the graphs itself; their parity on OpenVINO is this module's tests' and the
bench's figure, not the manifest's). Must not import torch, the TorchScript runtime, or ``snapshot/``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from function.engines.base import EngineLoadError
from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.onnx_runtime import (
    check_onnx_compatible,
    check_onnx_files,
    cpu_limit,
    engine_from_graphs,
)
from function.engines.emotivoice.snapshot_frontend import StageClock

if TYPE_CHECKING:
    import openvino

    from function.engines.emotivoice.snapshot_engine import SnapshotEngine
    from function.settings import Settings

log = logging.getLogger(__name__)

NOT_INSTALLED = ("EMOTIVOICE_RUNTIME=openvino but openvino is not installed "
                 "(pip install 'emotivoice-serverless[openvino]')")
# EMOTIVOICE_PRECISION -> OpenVINO INFERENCE_PRECISION_HINT; always set, never OpenVINO's CPU default.
HINTS = {"fp32": "f32", "bf16": "bf16"}
# The graphs bf16 applies to (see the module docstring: the vocoder is where the time is; the acoustic
# model's durations change under bf16).
BF16_GRAPHS = frozenset({fmt.ONNX_VOCODER})


def compile_config(threads: int, hint: str) -> dict[str, Any]:
    """The CPU plugin's properties for one graph."""
    return {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}


def graph_hint(graph: str, precision: str) -> str:
    return HINTS[precision] if graph in BF16_GRAPHS else HINTS["fp32"]


def cpu_capabilities(core: openvino.Core) -> list[str]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of this CPU ("FP32", "BF16", ...)."""
    return [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def fused_gemm(node: Any) -> list[Any]:
    """``com.microsoft.FusedGemm`` as ONNX Runtime defines it: ``act(alpha * A' @ B' + beta * C)``.

    Replaces OpenVINO's own translator, which applies ReLU for any activation but LeakyRelu."""
    import openvino.opset13 as ops

    y = ops.matmul(node.get_input(0), node.get_input(1), bool(node.get_attribute("transA", 0)),
                   bool(node.get_attribute("transB", 0)))
    alpha = float(node.get_attribute("alpha", 1.0))
    if alpha != 1.0:
        y = ops.multiply(y, ops.constant(np.float32(alpha)))
    if node.get_input_size() > 2:
        c = node.get_input(2)
        beta = float(node.get_attribute("beta", 1.0))
        if beta != 1.0:
            c = ops.multiply(c, ops.constant(np.float32(beta)))
        y = ops.add(y, c)
    activation = str(node.get_attribute("activation", ""))
    if activation == "LeakyRelu":
        slope = float(node.get_attribute("activation_alpha", 0.01))
        y = ops.prelu(y, ops.constant(np.array([slope], dtype=np.float32)))
    elif activation:
        simple: dict[str, Callable[[Any], Any]] = {"Relu": ops.relu, "Tanh": ops.tanh, "Sigmoid": ops.sigmoid}
        if activation not in simple:
            raise ValueError(f"FusedGemm activation {activation!r} is not supported")
        y = simple[activation](y)
    return [y.output(0)]


class _Requests:
    """Infer requests of one compiled model: one per concurrently running call, reused afterwards.
    Outputs are copied out of the request before it goes back to the pool."""

    def __init__(self, compiled: openvino.CompiledModel) -> None:
        self.compiled = compiled
        self._idle: list[openvino.InferRequest] = []
        self._lock = threading.Lock()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        with self._lock:
            request = self._idle.pop() if self._idle else None
        if request is None:
            request = self.compiled.create_infer_request()
        try:
            return tuple(request.infer(dict(inputs), share_inputs=False, share_outputs=False).to_tuple())
        finally:
            with self._lock:
                self._idle.append(request)


class OpenVinoNetworks:
    """The engine's numpy :class:`~parts.Networks` over three OpenVINO compiled models."""

    runtime = "openvino"

    def __init__(self, compiled: Mapping[str, openvino.CompiledModel], speakers: np.ndarray, *,
                 precision: str = "fp32") -> None:
        self.precision = precision
        self._bert = _Requests(compiled[fmt.ONNX_BERT])
        self._acoustic = _Requests(compiled[fmt.ONNX_ACOUSTIC])
        self._vocoder = _Requests(compiled[fmt.ONNX_VOCODER])
        self._speakers = speakers

    @property
    def speaker_embeddings(self) -> np.ndarray:
        return self._speakers

    def bert(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self._bert({"ids": ids.astype(np.int64, copy=False),
                           "lengths": lengths.astype(np.int64, copy=False)})[0]

    def acoustic(self, ids: np.ndarray, lengths: np.ndarray, speaker: np.ndarray, style: np.ndarray,
                 content: np.ndarray, speed: np.ndarray) -> list[np.ndarray]:
        mel, frames = self._acoustic({
            "ids": ids.astype(np.int64, copy=False), "lengths": lengths.astype(np.int64, copy=False),
            "speaker": speaker, "style": style, "content": content, "speed": speed})
        return [mel[i, : int(frames[i])] for i in range(len(ids))]  # per-item trimming, on numpy

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        return self._vocoder({"mel": np.ascontiguousarray(mel.T, dtype=np.float32)[None]})[0][0]


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise EngineLoadError(NOT_INSTALLED) from exc
    return openvino


def check_precision(core: openvino.Core, precision: str) -> None:
    if precision not in HINTS:
        raise EngineLoadError(f"EMOTIVOICE_PRECISION={precision} is not supported by the OpenVINO runtime "
                              f"(one of {', '.join(HINTS)})")
    if precision == "bf16" and "BF16" not in cpu_capabilities(core):
        raise EngineLoadError(
            "EMOTIVOICE_PRECISION=bf16 but this CPU has no bf16 support (OpenVINO's OPTIMIZATION_CAPABILITIES: "
            f"{', '.join(cpu_capabilities(core))}): unset EMOTIVOICE_PRECISION (fp32) or run on a CPU with "
            "AVX512-BF16 or AMX")


def compile_graphs(core: openvino.Core, directory: Path, *, threads: int, precision: str,
                   mark: Callable[[str], None] = lambda _stage: None) -> dict[str, Any]:
    """One compiled model per graph, with the FusedGemm fix registered on ``core`` first."""
    from openvino.frontend.onnx import ConversionExtension

    core.add_extension(ConversionExtension("FusedGemm", "com.microsoft", fused_gemm))
    compiled: dict[str, Any] = {}
    for name in fmt.GRAPHS:
        try:
            compiled[name] = core.compile_model(core.read_model(str(directory / name)), "CPU",
                                                compile_config(threads, graph_hint(name, precision)))
        except Exception as exc:  # noqa: BLE001 - a graph that cannot compile is a broken snapshot
            raise EngineLoadError(f"snapshot graph {directory / name} cannot be compiled by OpenVINO: "
                                  f"{type(exc).__name__}: {str(exc).strip()[:500]}") from exc
        mark(f"compile {name}")
    return compiled


def open_openvino_snapshot(directory: Path, *, threads: int = 0, precision: str = "fp32") -> SnapshotEngine:
    """Check and load a snapshot's ONNX graphs on OpenVINO; every problem is an :class:`EngineLoadError`.

    Same order as the ONNX Runtime path: cheap checks, import openvino, compile the graphs one after the
    other, then the engine package and the frontend tables (``onnx_runtime.engine_from_graphs``)."""
    directory = Path(directory).expanduser()
    clock = StageClock()
    try:
        manifest = fmt.read_manifest(directory)
        ov = import_openvino()
        clock.mark("import openvino")
        check_onnx_compatible(manifest, ort_version=None, engine_version=None)
        check_onnx_files(directory, manifest)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    core = ov.Core()
    check_precision(core, precision)
    compiled = compile_graphs(core, directory, threads=threads or cpu_limit(), precision=precision, mark=clock.mark)
    return engine_from_graphs(directory, manifest, clock, graphs=compiled, runtime="openvino",
                              networks=lambda speakers: OpenVinoNetworks(compiled, speakers, precision=precision))


def openvino_available() -> bool:
    """openvino is installed (looked up without importing it)."""
    from importlib.util import find_spec

    return find_spec("openvino") is not None


def load_openvino_snapshot(settings: Settings) -> SnapshotEngine:
    """The registry's entry point for ``EMOTIVOICE_RUNTIME=openvino``; warm-up is left to the caller."""
    from function.engines.emotivoice.runtime import keep_freed_memory

    keep_freed_memory()
    assert settings.snapshot is not None
    precision = getattr(settings, "precision", None) or "fp32"
    started = time.perf_counter()
    engine = open_openvino_snapshot(settings.snapshot, threads=settings.onnx_threads, precision=precision)
    log.info("snapshot loaded", extra={"snapshot": str(settings.snapshot), "runtime": "openvino",
                                        "precision": precision, "read_seconds": round(time.perf_counter() - started, 3),
                                        "stages_seconds": engine.load_stages})
    return engine

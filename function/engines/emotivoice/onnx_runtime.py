"""Open a snapshot's ONNX graphs as a ready-to-warm EmotiVoice engine: the torch-free runtime (issue 13).

A serving process on this path imports onnxruntime (~0.26 s) instead of torch (~2.2 s on the 2-core
box), creates one session per graph (BERT, acoustic model, vocoder), shared by every request (ONNX
Runtime's ``run`` is thread-safe), and runs the frontend, the prompt vectors and the speaker table on
numpy. The engine is :class:`SnapshotEngine` (i.e. :class:`EmotiVoiceEngine`) over :class:`OnnxParts`,
whose ``networks`` already speak numpy, so the engine never imports ``torch_networks``.

Refusals, each an :class:`EngineLoadError` naming both sides (readiness shows it; the process stays
up, not ready, instead of crash-looping): a snapshot without ONNX graphs, another format or engine
version, or graphs built and verified with another onnxruntime major.minor (an operator's kernels may
change between minor versions, so the parity figure would no longer hold).

Owns sessions, their thread settings and the ONNX-specific checks. Must not import torch, the
TorchScript runtime, or ``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from function.engines.base import EngineLoadError
from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.snapshot_frontend import (
    StageClock,
    frontend_parts,
    load_pickle,
    prompt_table,
    seed_frontend,
)

if TYPE_CHECKING:
    import onnxruntime

    from function.engines.emotivoice.english import Lexicon
    from function.engines.emotivoice.snapshot_engine import SnapshotEngine
    from function.engines.emotivoice.tokenizer import WordPieceTokenizer
    from function.settings import Settings

log = logging.getLogger(__name__)


def cpu_limit() -> int:
    """CPUs this pod may use: the cgroup v2 ``cpu.max`` quota (a Knative CPU limit), else the affinity
    mask. Intra-op threads beyond the quota only get throttled."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, int(float(quota) / float(period) + 0.5))
    except (OSError, ValueError):
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def check_onnx_compatible(manifest: dict[str, Any], *, ort_version: str, engine_version: str | None) -> None:
    """Refuse a snapshot without graphs, or from another format, engine or onnxruntime major.minor."""
    built = manifest.get("format_version")
    if built != fmt.FORMAT_VERSION:
        raise fmt.SnapshotError(
            f"snapshot format version {built} does not match this runtime's format version {fmt.FORMAT_VERSION}: "
            "rebuild the snapshot with `emotivoice-fn snapshot`")
    onnx = manifest.get("onnx")
    if not isinstance(onnx, dict):
        raise fmt.SnapshotError("snapshot has no ONNX graphs (built without them): rebuild it with "
                                "`emotivoice-fn snapshot`, or set EMOTIVOICE_RUNTIME=torchscript")
    built_ort = str(onnx.get("onnxruntime_version"))
    if major_minor(built_ort) != major_minor(ort_version):
        raise fmt.SnapshotError(
            f"snapshot's ONNX graphs were built and verified with onnxruntime {built_ort} but this runtime has "
            f"onnxruntime {ort_version} (major.minor must match): rebuild the snapshot with the runtime's onnxruntime")
    built_engine = manifest.get("engine_version")
    if engine_version is not None and built_engine != engine_version:
        raise fmt.SnapshotError(
            f"snapshot was built for engine version {built_engine} but this runtime's engine is {engine_version}: "
            "rebuild the snapshot")


def check_onnx_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Every ONNX file the manifest lists is present with its recorded size (truncation check)."""
    files = manifest.get("onnx", {}).get("files")
    if not isinstance(files, dict) or not all(name in files for name in fmt.ONNX_FILES):
        raise fmt.SnapshotError(f"snapshot manifest in {directory} lacks the ONNX file list")
    for name in fmt.ONNX_FILES:
        path = Path(directory) / name
        if not path.is_file():
            raise fmt.SnapshotError(f"snapshot file {path} is missing")
        size = path.stat().st_size
        if size != files[name].get("bytes"):
            raise fmt.SnapshotError(f"snapshot file {path} is truncated or damaged: {size} bytes, "
                                    f"manifest says {files[name].get('bytes')}")


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """One session per graph, ``threads`` intra-op threads, sequential graph execution (these graphs
    are chains: inter-op parallelism buys nothing and would oversubscribe the pod's CPUs). The graphs
    were optimised offline at the portable EXTENDED level; the remaining (CPU-specific) layout passes
    run here at session creation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxNetworks:
    """The engine's numpy :class:`~parts.Networks` over three ONNX Runtime sessions."""

    runtime = "onnx"
    precision = "fp32"

    def __init__(self, sessions: Mapping[str, onnxruntime.InferenceSession], speakers: np.ndarray) -> None:
        self._bert = sessions[fmt.ONNX_BERT]
        self._acoustic = sessions[fmt.ONNX_ACOUSTIC]
        self._vocoder = sessions[fmt.ONNX_VOCODER]
        self._speakers = speakers

    @property
    def speaker_embeddings(self) -> np.ndarray:
        return self._speakers

    def bert(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self._bert.run(None, {"ids": ids.astype(np.int64, copy=False),
                                     "lengths": lengths.astype(np.int64, copy=False)})[0]

    def acoustic(self, ids: np.ndarray, lengths: np.ndarray, speaker: np.ndarray, style: np.ndarray,
                 content: np.ndarray, speed: np.ndarray) -> list[np.ndarray]:
        mel, frames = self._acoustic.run(None, {
            "ids": ids.astype(np.int64, copy=False), "lengths": lengths.astype(np.int64, copy=False),
            "speaker": speaker, "style": style, "content": content, "speed": speed})
        return [mel[i, : int(frames[i])] for i in range(len(ids))]  # per-item trimming, on numpy

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        return self._vocoder.run(None, {"mel": np.ascontiguousarray(mel.T, dtype=np.float32)[None]})[0][0]


@dataclass(frozen=True)
class OnnxParts:
    """:class:`~parts.EngineParts` over ONNX graphs: ``networks`` speak numpy; the three network slots
    hold the sessions (for inspection; the engine calls ``networks``)."""

    networks: OnnxNetworks
    acoustic: Any
    bert: Any
    vocoder: Any
    hop: int
    tokenizer: WordPieceTokenizer
    token_ids: Mapping[str, int]
    speakers: Sequence[str]
    lexicon: Lexicon
    prompt_vocabulary: Sequence[str]
    speaker_table: Mapping[str, tuple[str, str, str]]
    runtime: str = "onnx"


def open_onnx_snapshot(directory: Path, *, threads: int = 0) -> SnapshotEngine:
    """Check and load a snapshot's ONNX graphs; every problem is an :class:`EngineLoadError`.

    Order (measured in the issue's prototype): cheap checks, import onnxruntime, create the sessions one
    after the other (creating them on a background thread while the frontend imports was slower on 2
    cores), then import the engine package, unpickle and seed the frontend tables.
    """
    directory = Path(directory).expanduser()
    clock = StageClock()
    mark, stages = clock.mark, clock.stages

    try:
        manifest = fmt.read_manifest(directory)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EngineLoadError("EMOTIVOICE_RUNTIME=onnx but onnxruntime is not installed "
                                  "(pip install 'emotivoice-serverless[onnx]')") from exc
        mark("import onnxruntime")
        check_onnx_compatible(manifest, ort_version=ort.__version__, engine_version=None)
        check_onnx_files(directory, manifest)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    threads = threads or cpu_limit()
    sessions: dict[str, Any] = {}
    for name in fmt.GRAPHS:
        try:
            sessions[name] = ort.InferenceSession(str(directory / name), session_options(threads),
                                                  providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a graph that cannot load is a broken snapshot
            raise EngineLoadError(f"snapshot graph {directory / name} is corrupted or cannot run: "
                                  f"{type(exc).__name__}: {exc}") from exc
        mark(f"session {name}")
    try:
        speakers = np.load(directory / fmt.SPEAKERS, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise EngineLoadError(f"snapshot file {directory / fmt.SPEAKERS} is corrupted: {exc}") from exc

    from function.engines.emotivoice.snapshot_engine import SnapshotEngine

    mark("import engine")
    try:
        check_onnx_compatible(manifest, ort_version=ort.__version__, engine_version=SnapshotEngine.version)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    frontend = load_pickle(directory / fmt.FRONTEND)
    prompts = load_pickle(directory / fmt.PROMPTS)
    mark("unpickle tables")
    try:
        seed_frontend(frontend)
        parts = OnnxParts(networks=OnnxNetworks(sessions, speakers), acoustic=sessions[fmt.ONNX_ACOUSTIC],
                          bert=sessions[fmt.ONNX_BERT], vocoder=sessions[fmt.ONNX_VOCODER],
                          **frontend_parts(frontend, manifest))
        vectors = dict(prompt_table(prompts))
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
    mark("seed frontend")
    return SnapshotEngine(parts, prompt_vectors=vectors, manifest=manifest, directory=directory, load_stages=stages)


def onnx_available(directory: Path) -> bool:
    """``EMOTIVOICE_RUNTIME=auto``'s test: the snapshot lists ONNX graphs and onnxruntime is installed
    (looked up without importing it)."""
    from importlib.util import find_spec

    try:
        manifest = fmt.read_manifest(directory)
    except fmt.SnapshotError:
        return False
    return isinstance(manifest.get("onnx"), dict) and find_spec("onnxruntime") is not None


def load_onnx_snapshot(settings: Settings) -> SnapshotEngine:
    """The registry's entry point for an ONNX-served snapshot; warm-up is left to the caller."""
    from function.engines.emotivoice.runtime import keep_freed_memory

    if getattr(settings, "precision", "fp32") not in (None, "fp32"):
        raise EngineLoadError("the ONNX graphs are fp32: unset EMOTIVOICE_PRECISION or use the eager path")
    keep_freed_memory()
    assert settings.snapshot is not None
    started = time.perf_counter()
    engine = open_onnx_snapshot(settings.snapshot, threads=settings.onnx_threads)
    log.info("snapshot loaded", extra={"snapshot": str(settings.snapshot), "runtime": "onnx",
                                        "read_seconds": round(time.perf_counter() - started, 3),
                                        "stages_seconds": engine.load_stages})
    return engine

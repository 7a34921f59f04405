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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from function.engines.base import EngineLoadError
from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.onnx_providers import check_session, choose_providers
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
    from function.engines.emotivoice.parts import Networks
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


def check_onnx_compatible(manifest: dict[str, Any], *, ort_version: str | None, engine_version: str | None) -> None:
    """Refuse a snapshot without graphs, or from another format, engine or onnxruntime major.minor
    (``ort_version=None``: no onnxruntime check, for OpenVINO, which reads the graphs itself;
    ``engine_version=None``: that check is left for later)."""
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
    if ort_version is not None and major_minor(built_ort) != major_minor(ort_version):
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


# Graphs whose weights are not pre-packed at session creation. Pre-packing BERT's ~100 M MatMul weights
# (ONNX Runtime re-lays them out for its GEMM kernels) took 0.49 s of the 0.52 s its session costs, for
# 0.035-0.04 s per BERT pass (10-40 tokens: 0.058-0.099 s packed vs 0.095-0.132 s unpacked), measured
# alternately in one process on the full-size random home, 2 threads. BERT runs once per request's
# sentence group, next to a vocoder that costs seconds: a start-path half second is worth more. The
# vocoder and acoustic model are pre-packed (their sessions cost 0.06-0.1 s).
UNPACKED_GRAPHS = frozenset({fmt.ONNX_BERT})


def session_options(threads: int, graph: str = "") -> onnxruntime.SessionOptions:
    """One session per graph, ``threads`` intra-op threads, sequential graph execution (these graphs
    are chains: inter-op parallelism buys nothing and would oversubscribe the pod's CPUs). The graphs
    were optimised offline at the portable EXTENDED level; the remaining (CPU-specific) layout passes
    run here at session creation. Graphs in ``UNPACKED_GRAPHS`` skip weight pre-packing."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if graph in UNPACKED_GRAPHS:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return options


class OnnxNetworks:
    """The engine's numpy :class:`~parts.Networks` over three ONNX Runtime sessions. fp32 only: bf16 is
    not an ONNX Conv type, and ONNX Runtime 1.32's fp16 Conv was no faster than fp32 on the x86 CPU
    (77.6 vs 76.6 ms, 512 channels, kernel 7, 4,000 steps); bf16 is served by ``openvino_runtime``."""

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
    hold the sessions or OpenVINO compiled models (for inspection; the engine calls ``networks``)."""

    networks: Networks
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


def open_onnx_snapshot(directory: Path, *, threads: int = 0, provider: str = "cpu") -> SnapshotEngine:
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
    providers = choose_providers(provider, ort.get_available_providers())
    sessions: dict[str, Any] = {}
    for name in fmt.GRAPHS:
        try:
            sessions[name] = ort.InferenceSession(str(directory / name), session_options(threads, name),
                                                  providers=providers)
        except Exception as exc:  # noqa: BLE001 - a graph that cannot load is a broken snapshot
            raise EngineLoadError(f"snapshot graph {directory / name} is corrupted or cannot run: "
                                  f"{type(exc).__name__}: {exc}") from exc
        check_session(provider, providers, sessions[name].get_providers(), name)
        mark(f"session {name}")
    return engine_from_graphs(directory, manifest, clock, graphs=sessions, runtime="onnx",
                              networks=lambda speakers: OnnxNetworks(sessions, speakers))


def engine_from_graphs(directory: Path, manifest: dict[str, Any], clock: StageClock, *, graphs: Mapping[str, Any],
                       runtime: str, networks: Callable[[np.ndarray], Networks]) -> SnapshotEngine:
    """What every runtime of the ONNX graphs does once its three graphs are loaded (``graphs``: sessions
    or compiled models, by file name): the speaker table, the engine package, the engine version check,
    the frontend tables and prompt vectors; ``networks(speakers)`` builds the numpy networks."""
    mark, stages = clock.mark, clock.stages
    try:
        speakers = np.load(directory / fmt.SPEAKERS, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise EngineLoadError(f"snapshot file {directory / fmt.SPEAKERS} is corrupted: {exc}") from exc

    from function.engines.emotivoice.snapshot_engine import SnapshotEngine

    mark("import engine")
    try:  # the runtime's own version (onnxruntime) was checked before loading the graphs
        check_onnx_compatible(manifest, ort_version=None, engine_version=SnapshotEngine.version)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    frontend = load_pickle(directory / fmt.FRONTEND)
    prompts = load_pickle(directory / fmt.PROMPTS)
    mark("unpickle tables")
    try:
        seed_frontend(frontend, directory)
        parts = OnnxParts(networks=networks(speakers), acoustic=graphs[fmt.ONNX_ACOUSTIC], bert=graphs[fmt.ONNX_BERT],
                          vocoder=graphs[fmt.ONNX_VOCODER], runtime=runtime, **frontend_parts(frontend, manifest))
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
        raise EngineLoadError(
            f"EMOTIVOICE_PRECISION={settings.precision} is not served by ONNX Runtime (its graphs run in fp32): "
            "set EMOTIVOICE_RUNTIME=openvino for a bf16 vocoder (needs the 'openvino' extra and a CPU with bf16), "
            "or unset EMOTIVOICE_PRECISION")
    keep_freed_memory()
    assert settings.snapshot is not None
    started = time.perf_counter()
    engine = open_onnx_snapshot(settings.snapshot, threads=settings.onnx_threads,
                                provider=getattr(settings, "onnx_provider", "cpu"))
    log.info("snapshot loaded", extra={"snapshot": str(settings.snapshot), "runtime": "onnx",
                                        "read_seconds": round(time.perf_counter() - started, 3),
                                        "stages_seconds": engine.load_stages})
    return engine

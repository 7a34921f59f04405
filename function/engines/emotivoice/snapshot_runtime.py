"""Open a snapshot directory (``emotivoice-fn snapshot``) as a ready-to-warm EmotiVoice engine: the
TorchScript runtime.

What a cold start pays here instead of the eager path: no checkpoint parsing, no module construction,
no weight-norm folding, no 1.16 GB style-encoder file, no jieba dictionary build, no CMUdict parse, no
BERT passes over the prompt vocabulary. It reads three TorchScript archives (code only) and one
memory-mapped weights file, one pickle of frontend tables and one of pre-computed prompt vectors, then
runs a short warm-up synthesis.

The engine is :class:`EmotiVoiceEngine` itself (same frontend, sentence splitting, batching, timings),
given the compiled modules as its parts (:class:`SnapshotParts`) and the prompt vectors as its
pre-computed style table: the compiled acoustic model and BERT are the engine's own ``acoustic.py`` and
``bert.py`` modules (scripted), the vocoder is ``vocoder.py`` traced, so they take the same arguments.

Owns reading archives and weights, the TorchScript executor setting and the loading order; the format
checks are ``snapshot_format.py``, the frontend tables ``snapshot_frontend.py`` (both torch-free, for any
other runtime to share). Must not import ``snapshot/`` (the build step imports this module).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

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
    from function.engines.emotivoice.english import Lexicon
    from function.engines.emotivoice.snapshot_engine import SnapshotEngine
    from function.engines.emotivoice.tokenizer import WordPieceTokenizer
    from function.settings import Settings

# Only torch is imported up front: the engine package (jieba, pypinyin, cn2an) is imported while the
# archives are being read in the background (see open_snapshot).

log = logging.getLogger(__name__)

EXECUTOR_MODES = ("simple", "legacy", "profiling")


def configure_executor(mode: str) -> None:
    """Apply the TorchScript executor setting the snapshot was built and verified with.

    ``simple`` (default): the profiling executor off and the graph executor's optimisation passes off.
    The archives are already frozen and optimised at build time; on CPU (no fuser) the passes only cost
    a first call per module (~0.1 s in all), with an identical steady state (measured).
    ``legacy``: the profiling executor off, optimisation passes on.
    ``profiling``: torch's default (profiling runs, then specialisation): slower to first audio.
    """
    if mode not in EXECUTOR_MODES:
        raise EngineLoadError(f"snapshot names an unknown TorchScript executor mode {mode!r}")
    torch._C._jit_set_profiling_executor(mode == "profiling")
    torch._C._get_graph_executor_optimize(mode != "simple")


@dataclass(frozen=True)
class SnapshotParts:
    """:class:`~parts.EngineParts` over a snapshot: compiled networks and the stored frontend tables."""

    acoustic: torch.jit.ScriptModule
    bert: torch.jit.ScriptModule
    vocoder: torch.jit.ScriptModule
    hop: int
    tokenizer: WordPieceTokenizer
    token_ids: Mapping[str, int]
    speakers: Sequence[str]
    lexicon: Lexicon
    prompt_vocabulary: Sequence[str]
    speaker_table: Mapping[str, tuple[str, str, str]]
    runtime: str = "torchscript"


def first_call(name: str, module: torch.jit.ScriptModule, dims: dict[str, Any]) -> None:
    """Run a freshly read module once on a small dummy input, in its loading thread: the TorchScript
    executor's one-time graph optimisation and oneDNN's kernel set-up happen here, without the GIL,
    while the main thread is still importing and unpickling. The real warm-up synthesis that gates
    readiness then finds every module already initialised."""
    with torch.inference_mode():
        if name == fmt.VOCODER:
            module(torch.zeros(1, int(dims["vocoder"]["n_mels"]), 8))
        elif name == fmt.BERT:
            module(torch.zeros(1, 4, dtype=torch.long), torch.tensor([4]))
        elif name == fmt.ACOUSTIC:
            a = dims["acoustic"]
            module(torch.ones(1, 6, dtype=torch.long), torch.tensor([6]), torch.zeros(1, dtype=torch.long),
                   torch.zeros(1, int(a["style_dim"])), torch.zeros(1, int(a["style_dim"])), torch.ones(1))


def _map_weights(path: Path) -> dict[str, torch.Tensor]:
    """Memory-map the weights file: no copy, pages come in from the page cache on first use."""
    try:
        weights = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise EngineLoadError(f"snapshot weights {path} are corrupted or truncated: {type(exc).__name__}: {exc}") from exc
    if not isinstance(weights, dict):
        raise EngineLoadError(f"snapshot weights {path} are not a tensor table")
    return weights


def set_tensor(module: torch.jit.ScriptModule, key: str, tensor: torch.Tensor) -> None:
    """Replace the parameter or buffer ``key`` (a dotted ``state_dict`` name) of a compiled module. The
    build empties archives with it (``snapshot.build.strip_weights``); loading fills them back."""
    owner: Any = module
    *path, leaf = key.split(".")
    for part in path:
        owner = getattr(owner, part)
    setattr(owner, leaf, tensor)


def _assign_weights(directory: Path, name: str, module: torch.jit.ScriptModule, weights: dict[str, Any]) -> None:
    """Put the memory-mapped tensors back into a code-only archive (keys ``<archive>:<dotted name>``)."""
    expected = list(module.state_dict())
    missing = [key for key in expected if f"{name}:{key}" not in weights]
    if missing:
        raise EngineLoadError(f"snapshot weights {directory / fmt.WEIGHTS} lack {len(missing)} tensor(s) of {name}, "
                              f"e.g. {missing[0]}")
    for key in expected:
        set_tensor(module, key, weights[f"{name}:{key}"])


def _load_archive(path: Path) -> torch.jit.ScriptModule:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001
        raise EngineLoadError(f"snapshot archive {path} is corrupted or truncated: {type(exc).__name__}: {exc}") from exc
    module.eval()
    return module


def open_snapshot(directory: Path, *, check_hashes: bool = False) -> SnapshotEngine:
    """Check and load a snapshot directory; every problem is an :class:`EngineLoadError` with a message.

    Order matters for the cold start: the cheap checks (manifest, format and torch versions, file sizes)
    run first; then a background thread reads the three archives and runs each once on dummy input
    (torch deserialises and computes without the GIL) while this thread imports the engine package,
    checks the engine version, unpickles the frontend tables and prompt vectors and seeds
    jieba/pypinyin/CMUdict.
    """
    directory = Path(directory).expanduser()
    clock = StageClock()
    mark, stages = clock.mark, clock.stages

    try:
        manifest = fmt.read_manifest(directory)
        fmt.check_compatible(manifest, torch_version=torch.__version__, engine_version=None)
        fmt.check_files(directory, manifest, hashes=check_hashes)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    configure_executor(str(manifest.get("executor", "simple")))

    archives: dict[str, Any] = {}

    dims = manifest.get("dims") if isinstance(manifest.get("dims"), dict) else {}

    weights: dict[str, Any] = {}

    def read(name: str) -> None:
        try:
            archives[name] = _load_archive(directory / name)
            if manifest.get("external_weights"):
                _assign_weights(directory, name, archives[name], weights)
        except EngineLoadError as exc:
            archives[name] = exc
            return
        mark(f"read {name}")
        try:
            first_call(name, archives[name], dims)
        except Exception as exc:  # noqa: BLE001 - a module that cannot run is a broken snapshot
            archives[name] = EngineLoadError(f"snapshot archive {directory / name} does not run: {type(exc).__name__}: {exc}")
        mark(f"first call {name}")

    # One loader thread, reading and first-calling the archives one after the other with one intra-op
    # thread, leaves the second core to this thread's Python work (measured on 2 cores: 1.44 s for
    # open + warm-up, against 1.64 s with a thread per archive at torch's default thread count).
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)

    def read_all() -> None:
        if manifest.get("external_weights"):
            try:
                weights.update(_map_weights(directory / fmt.WEIGHTS))
            except EngineLoadError as exc:
                for name in fmt.ARCHIVES:
                    archives[name] = exc
                return
            mark("map weights")
        for name in fmt.ARCHIVES:
            read(name)

    threads = [threading.Thread(target=read_all, name="snapshot-archives")]
    for thread in threads:
        thread.start()
    try:
        from function.engines.emotivoice.snapshot_engine import SnapshotEngine

        mark("import engine")
        try:
            fmt.check_compatible(manifest, torch_version=torch.__version__, engine_version=SnapshotEngine.version)
        except fmt.SnapshotError as exc:
            raise EngineLoadError(str(exc)) from exc
        frontend = load_pickle(directory / fmt.FRONTEND)
        prompts = load_pickle(directory / fmt.PROMPTS)
        mark("unpickle tables")
        try:
            seed_frontend(frontend, directory)
            shared = frontend_parts(frontend, manifest)  # the tokenizer is built here, while archives load
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
        mark("seed frontend")
    finally:
        for thread in threads:
            thread.join()
        torch.set_num_threads(threads_before)
    for name in fmt.ARCHIVES:
        if isinstance(archives[name], Exception):
            raise archives[name]
    try:
        parts = SnapshotParts(acoustic=archives[fmt.ACOUSTIC], bert=archives[fmt.BERT], vocoder=archives[fmt.VOCODER],
                              **shared)
        vectors = dict(prompt_table(prompts))
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
    mark("done")
    return SnapshotEngine(parts, prompt_vectors=vectors, manifest=manifest, directory=directory, load_stages=stages)


def load_snapshot(settings: Settings) -> SnapshotEngine:
    """The registry's entry point for ``EMOTIVOICE_SNAPSHOT``; warm-up is left to the caller."""
    from function.engines.emotivoice.runtime import keep_freed_memory

    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    if getattr(settings, "precision", "fp32") not in (None, "fp32"):
        raise EngineLoadError("a snapshot is compiled in fp32: unset EMOTIVOICE_PRECISION or use the eager path")
    keep_freed_memory()
    assert settings.snapshot is not None
    started = time.perf_counter()
    engine = open_snapshot(settings.snapshot)
    log.info("snapshot loaded", extra={"snapshot": str(settings.snapshot),
                                        "read_seconds": round(time.perf_counter() - started, 3),
                                        "stages_seconds": engine.load_stages})
    return engine

"""Load a snapshot directory (``emotivoice-fn snapshot``) into a ready-to-warm EmotiVoice engine.

What a cold start pays here instead of the eager path: no checkpoint parsing, no module construction,
no weight-norm folding, no 1.16 GB style-encoder file, no jieba dictionary build, no CMUdict parse, no
BERT passes over the prompt vocabulary. It reads three TorchScript archives (weights inside), one
pickle of frontend tables and one of pre-computed prompt vectors, then runs a short warm-up synthesis.

The engine is :class:`EmotiVoiceEngine` itself (same frontend, sentence splitting, batching, timings),
fed the compiled modules through small adapters, so the HTTP layer sees no difference.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch

from function.engines.base import EngineLoadError
from snapshot import format as fmt

if TYPE_CHECKING:
    from function.settings import Settings
    from snapshot.engine import SnapshotEngine

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


def _seed_frontend(data: dict[str, Any]) -> None:
    """Hand the pre-built jieba prefix dictionary and CMUdict to the frontend modules, so their
    ``initialise``/``cmu_dictionary`` find them loaded. Falls back to the normal (slow) loading when the
    installed jieba or cmudict differs from the one the snapshot was built with."""
    import jieba

    from function.engines.emotivoice import chinese, english

    with chinese._init_lock:
        if not chinese._initialised:
            if data.get("jieba_version") == getattr(jieba, "__version__", None) and data.get("jieba"):
                jieba.setLogLevel(logging.WARNING)
                from importlib.metadata import version

                if data.get("cc_cedict") and data.get("pypinyin_dict_version") == version("pypinyin-dict"):
                    from pypinyin import load_phrases_dict

                    load_phrases_dict(data["cc_cedict"])  # what cc_cedict.load() does, minus its import
                else:
                    from pypinyin_dict.phrase_pinyin_data import cc_cedict

                    cc_cedict.load()
                tokenizer = jieba.Tokenizer()
                tokenizer.FREQ, tokenizer.total = data["jieba"]
                tokenizer.initialized = True
                chinese._tokenizer = tokenizer
                chinese._initialised = True
            else:
                log.warning("jieba %s differs from the snapshot's %s: building its dictionary at start-up",
                            getattr(jieba, "__version__", "?"), data.get("jieba_version"))
    if data.get("cmudict") is not None:
        with english._cmu_lock:
            if english._cmu is None:
                english._cmu = fmt.PhoneTable(data["cmudict"])  # type: ignore[assignment]


def _first_call(name: str, module: torch.jit.ScriptModule, dims: dict[str, Any]) -> None:
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


def _assign_weights(directory: Path, name: str, module: torch.jit.ScriptModule, weights: dict[str, Any]) -> None:
    """Put the memory-mapped tensors back into a code-only archive (see snapshot.build.strip_weights)."""
    expected = list(module.state_dict())
    missing = [key for key in expected if f"{name}:{key}" not in weights]
    if missing:
        raise EngineLoadError(f"snapshot weights {directory / fmt.WEIGHTS} lack {len(missing)} tensor(s) of {name}, "
                              f"e.g. {missing[0]}")
    for key in expected:
        owner: Any = module
        *path, leaf = key.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, leaf, weights[f"{name}:{key}"])


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception as exc:  # noqa: BLE001 - any damage must become a clear load error
        raise EngineLoadError(f"snapshot file {path} is corrupted or truncated: {type(exc).__name__}: {exc}") from exc


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
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def mark(stage: str) -> None:
        stages[stage] = round(time.perf_counter() - started, 3)

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
            _first_call(name, archives[name], dims)
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
        from function.engines.emotivoice.engine import EmotiVoiceEngine
        from function.engines.emotivoice.loader import LoadedHome
        from function.engines.emotivoice.tokenizer import WordPieceTokenizer

        mark("import engine")
        try:
            fmt.check_compatible(manifest, torch_version=torch.__version__, engine_version=EmotiVoiceEngine.version)
        except fmt.SnapshotError as exc:
            raise EngineLoadError(str(exc)) from exc
        frontend = _load_pickle(directory / fmt.FRONTEND)
        prompts = _load_pickle(directory / fmt.PROMPTS)
        mark("unpickle tables")
        try:
            _seed_frontend(frontend)
            tokenizer = WordPieceTokenizer(frontend["bert_vocab"], lower_case=frontend["bert_lower_case"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
        from snapshot.engine import SnapshotEngine, _AcousticAdapter, _ModuleAdapter

        mark("seed frontend")
    finally:
        for thread in threads:
            thread.join()
        torch.set_num_threads(threads_before)
    for name in fmt.ARCHIVES:
        if isinstance(archives[name], Exception):
            raise archives[name]
    try:
        dims = manifest["dims"]
        loaded = LoadedHome(
            home=directory,
            acoustic=_AcousticAdapter(archives[fmt.ACOUSTIC], SimpleNamespace(**dims["acoustic"])),  # type: ignore[arg-type]
            vocoder=_ModuleAdapter(archives[fmt.VOCODER], SimpleNamespace(**dims["vocoder"])),  # type: ignore[arg-type]
            bert=_ModuleAdapter(archives[fmt.BERT], SimpleNamespace(**dims["bert"])),  # type: ignore[arg-type]
            tokenizer=tokenizer,
            token_ids=frontend["token_ids"],
            speakers=frontend["speakers"],
            lexicon=fmt.PhoneTable(frontend["lexicon"]),
            prompt_vocabulary=frontend["prompt_vocabulary"],
            speaker_table=frontend["speaker_table"],
        )
        vectors = torch.from_numpy(prompts["vectors"])
        table = {text: vectors[i] for i, text in enumerate(prompts["texts"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
    mark("done")
    engine = SnapshotEngine(loaded, prompt_vectors=table, manifest=manifest, directory=directory)
    engine.load_stages = stages
    return engine


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

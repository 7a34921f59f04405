"""The EmotiVoice engine as a snapshot runs it: the same :class:`EmotiVoiceEngine`, built from compiled
parts and pre-computed prompt vectors (see ``snapshot_runtime.py``), with a lighter warm-up.

Importing this module imports the whole engine package (jieba, pypinyin, cn2an: ~0.45 s), so the runtime
imports it only after the archive reads have started in the background. Must not import ``snapshot/``
(the build step).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from function.engines.base import SynthesisRequest
from function.engines.emotivoice.engine import EmotiVoiceEngine
from function.engines.emotivoice.parts import EngineParts

log = logging.getLogger(__name__)

# The modules already ran once on dummy input while loading (snapshot_runtime.first_call); the warm-up
# synthesis that gates readiness is one very short sentence (the vocoder's cost is proportional to the
# audio), and the English frontend path is exercised without synthesis.
WARM_UP_TEXTS = ("嗨。",)
# Only TorchScript gains from running the networks before readiness (its executor specialises graphs on the
# first calls). ONNX Runtime sessions are complete once created: measured on the full-size random home
# (3 fresh processes each, one run), the first request took 2.07-2.30 s without a warm-up synthesis and
# 2.19-2.38 s after one that itself cost 0.83-1.03 s, so readiness does not wait for one.
SYNTHESIS_WARM_UP_RUNTIMES = frozenset({"torchscript"})
WARM_UP_FRONTEND_ONLY = ("Hi there, Zorblax.",)  # lexicon, CMUdict and the letter-to-sound fallback
# The profiling executor optimises a graph only after profiling runs: warm it over a spread of lengths.
PROFILING_WARM_UP_TEXTS = ("你好hi。", "今天天气真好，我们去公园散步吧。", "Hello, good morning to you all.")


class SnapshotEngine(EmotiVoiceEngine):
    """The EmotiVoice engine over compiled modules, with pre-computed prompt vectors; remembers the
    manifest it was loaded from and how long each loading stage took."""

    def __init__(self, parts: EngineParts, *, prompt_vectors: Mapping[str, np.ndarray], manifest: dict[str, Any],
                 directory: Path, load_stages: dict[str, float] | None = None) -> None:
        super().__init__(parts, prompt_vectors=prompt_vectors)
        self.manifest = manifest
        self.directory = directory
        self.snapshot_version = manifest.get("format_version")
        self.load_stages: dict[str, float] = dict(load_stages or {})

    def warm_up(self) -> None:
        """Frontend tables are already seeded and the prompt vocabulary is pre-computed: run the frontend
        paths and, on TorchScript, synthesise the warm-up sentences so every compiled module has run once."""
        started = time.perf_counter()
        self.frontend.warm()
        default = self.table.voices[0].id
        for text in WARM_UP_FRONTEND_ONLY:
            self.frontend(text)
        texts = PROFILING_WARM_UP_TEXTS if self.manifest.get("executor") == "profiling" else WARM_UP_TEXTS
        if self.runtime not in SYNTHESIS_WARM_UP_RUNTIMES:
            texts = ()
        for text in texts:
            for _ in self.synthesize(SynthesisRequest(text=text, voice=default)):
                pass
        log.info("snapshot warm-up done", extra={"warm_up_seconds": round(time.perf_counter() - started, 3)})

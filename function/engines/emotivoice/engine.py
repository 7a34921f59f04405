"""The EmotiVoice engine: text + speaker + emotion prompt -> 16 kHz audio, sentence by sentence.

Pipeline per request: split into sentences (the streaming and batching unit, and what keeps BERT under
512 positions); frontend per sentence; style vector from the prompt cache (no BERT pass for a cached
prompt); one batched BERT pass for the content vectors; acoustic model on the first sentence alone (so
the first chunk streams early) and then on groups of ``batch_size`` sentences with per-item masks; the
vocoder per sentence; output clipped to [-1, 1]. All modules are read-only after loading and every
forward pass runs under ``torch.inference_mode`` (entered per step, never across a ``yield``), so several
worker threads may synthesise at once.

The engine is given its parts (``parts.EngineParts``: three networks and the home's tables) and,
optionally, pre-computed style vectors; it never looks at where they came from. The eager path gives it
``loader.LoadedHome``; the snapshot runtime gives it compiled modules. Must not import the loader, a
snapshot runtime, or ``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from function.engines.base import AudioChunk, EngineLoadError, InvalidTextError, Style, SynthesisRequest, Voice
from function.engines.emotions import recognise
from function.engines.emotivoice.frontend import Frontend
from function.engines.emotivoice.parts import EngineParts
from function.engines.emotivoice.prompt_cache import PromptCache
from function.engines.emotivoice.voices import VoiceTable, build_voice_table
from function.engines.text import split_sentences

log = logging.getLogger(__name__)

NEUTRAL_PROMPT = "普通"  # upstream's neutral emotion label
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_SENTENCE_CHARS = 200  # far below BERT's 512 positions even for English word pieces


@dataclass
class _Prepared:
    text: str
    ids: list[int]
    frontend_s: float


class EmotiVoiceEngine:
    name = "emotivoice"
    version = "clean-room-1"

    def __init__(
        self,
        parts: EngineParts,
        *,
        prompt_vectors: Mapping[str, torch.Tensor] | None = None,
        batch_size: int = 4,
        sample_rate: int = 16000,
        precision: str = "fp32",
    ) -> None:
        """``prompt_vectors``: style vectors known in advance (a snapshot's), used without a BERT pass.
        ``precision="bf16"`` converts the vocoder (an ``nn.Module``) in place."""
        self.parts = parts
        self.precision = precision
        if precision == "bf16":  # the vocoder is ~90% of the work; BERT and the acoustic model stay fp32
            if not isinstance(parts.vocoder, nn.Module):
                raise EngineLoadError("bf16 needs the vocoder as a torch module (the eager path)")
            parts.vocoder.to(torch.bfloat16)
        self.sample_rate = sample_rate
        self.batch_size = max(1, batch_size)
        self.frontend = Frontend(lexicon=parts.lexicon, token_ids=parts.token_ids)
        self.table: VoiceTable = build_voice_table(parts.speakers, parts.speaker_table)
        self.prompts = PromptCache(self._bert_vectors, precomputed=prompt_vectors)
        self.hop = parts.hop
        self.stats = {"bert_passes": 0}
        self._stats_lock = threading.Lock()

    # --- protocol: voices and styles ------------------------------------------------------------
    def voices(self) -> Sequence[Voice]:
        return self.table.voices

    def resolve_voice(self, voice: str) -> Voice:
        return self.table.resolve(voice)[0]

    def resolve_style(self, prompt: str) -> Style:
        """BERT takes any text, so nothing is ever a fallback; the recognised emotion is reported."""
        text = (prompt or "").strip() or NEUTRAL_PROMPT
        return Style(prompt=text, emotion=recognise(text).emotion, fallback=False)

    # --- model passes -----------------------------------------------------------------------------
    def _bert_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooler outputs (len(texts), 768) in one padded, masked batch."""
        encoded = [self.parts.tokenizer.encode(t) for t in texts]
        longest = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), longest), self.parts.tokenizer.pad_id, dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
        lengths = torch.tensor([len(e) for e in encoded])
        with torch.inference_mode():
            out = self.parts.bert(ids, lengths)
        with self._stats_lock:
            self.stats["bert_passes"] += 1
        return out

    def acoustic(
        self, ids: Sequence[Sequence[int]], speaker: int, style: torch.Tensor, content: torch.Tensor, speed: float
    ) -> list[torch.Tensor]:
        """Frames (T_i, 80) for each id sequence, run as one masked batch."""
        lengths = torch.tensor([len(x) for x in ids])
        batch = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for i, seq in enumerate(ids):
            batch[i, : len(seq)] = torch.tensor(seq)
        with torch.inference_mode():
            return self.parts.acoustic(
                batch,
                lengths,
                torch.full((len(ids),), speaker, dtype=torch.long),
                style.expand(len(ids), -1),
                content,
                # One speed per item, as every runtime takes it; dividing by it equals dividing by the float.
                torch.full((len(ids),), speed, dtype=torch.float32),
            )

    def vocode(self, frames: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            wav = self.parts.vocoder(frames.T[None])[0]
        return np.clip(wav.numpy().astype(np.float32, copy=False), -1.0, 1.0)

    # --- protocol: synthesis ----------------------------------------------------------------------
    def prepare(self, text: str) -> list[_Prepared]:
        prepared = []
        for sentence in split_sentences(text, MAX_SENTENCE_CHARS):
            started = time.perf_counter()
            _, ids = self.frontend(sentence)
            if len(ids) <= 2:  # only <sos/eos> twice: nothing speakable in this sentence
                continue
            prepared.append(_Prepared(sentence, ids, time.perf_counter() - started))
        return prepared

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        _, speaker = self.table.resolve(request.voice)
        style_text = self.resolve_style(request.prompt).prompt
        speed = min(max(float(request.speed or 1.0), MIN_SPEED), MAX_SPEED)
        sentences = self.prepare(request.text)
        if not sentences:
            raise InvalidTextError("the text contains nothing EmotiVoice can speak", param="input")
        return self._generate(sentences, speaker, style_text, speed)

    def _generate(self, sentences: list[_Prepared], speaker: int, style_text: str, speed: float) -> Iterator[AudioChunk]:
        started = time.perf_counter()
        style = self.prompts.get(style_text)[None]
        style_s = time.perf_counter() - started
        groups = [sentences[:1]] + [
            sentences[i : i + self.batch_size] for i in range(1, len(sentences), self.batch_size)
        ]
        for group in groups:
            if not group:
                continue
            t0 = time.perf_counter()
            content = self._bert_vectors([s.text for s in group])
            t1 = time.perf_counter()
            frames = self.acoustic([s.ids for s in group], speaker, style, content, speed)
            t2 = time.perf_counter()
            weights = [len(s.ids) for s in group]
            total = float(sum(weights))
            for k, (sentence, mel) in enumerate(zip(group, frames)):
                v0 = time.perf_counter()
                pcm = self.vocode(mel)
                share = weights[k] / total
                timings = {
                    "frontend": sentence.frontend_s,
                    "bert": (t1 - t0) * share + style_s,
                    "acoustic": (t2 - t1) * share,
                    "vocoder": time.perf_counter() - v0,
                }
                style_s = 0.0
                yield AudioChunk(pcm=pcm, sample_rate=self.sample_rate, text=sentence.text, timings=timings)

    def warm_up(self) -> None:
        """Load frontend dictionaries, pre-compute the label vocabulary's style vectors, run one sentence."""
        self.frontend.warm()
        vocabulary = list(dict.fromkeys([NEUTRAL_PROMPT, *self.parts.prompt_vocabulary]))
        self.prompts.get_many(vocabulary)
        default = self.table.voices[0].id
        for _ in self.synthesize(SynthesisRequest(text="你好，hello。", voice=default)):
            pass

    def close(self) -> None:
        self.prompts.clear()

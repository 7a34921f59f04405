"""The EmotiVoice engine: text + speaker + emotion prompt -> 16 kHz audio, sentence by sentence.

Pipeline per request: split into sentences (the streaming and batching unit, and what keeps BERT under
512 positions); frontend per sentence; style vector from the prompt cache (no BERT pass for a cached
prompt); one batched BERT pass for the content vectors; acoustic model on the first sentence alone (so
the first chunk streams early) and then on groups of ``batch_size`` sentences with per-item masks; the
vocoder per sentence; output clipped to [-1, 1]. All modules are read-only after loading and every
network call is stateless (``torch_networks`` enters ``inference_mode`` per call, never across a
``yield``; ONNX Runtime sessions are thread-safe), so several worker threads may synthesise at once.
The speaker is a vector from the speaker table, looked up (or blended, for a mix) here on numpy.

The engine is given its parts (``parts.EngineParts``: three networks and the home's tables) and,
optionally, pre-computed style vectors; it never looks at where they came from. The eager path gives it
``loader.LoadedHome``; the snapshot runtimes give it compiled modules or ONNX sessions. It speaks numpy
to them (``parts.Networks``) and imports torch only through ``torch_networks`` for torch parts, so an
ONNX-served process never loads torch. Must not import the loader, a snapshot runtime, or
``snapshot/`` (the build step).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from function.engines.base import (AudioChunk, InvalidTextError, Style, SynthesisRequest, UnknownVoiceError, Voice,
                                   VoiceMix)
from function.engines.emotions import recognise
from function.engines.emotivoice.frontend import Frontend
from function.engines.emotivoice.parts import EngineParts, Networks
from function.engines.emotivoice.prompt_cache import PromptCache
from function.engines.emotivoice.voices import VoiceTable, build_voice_table
from function.engines.text import split_sentences

log = logging.getLogger(__name__)

NEUTRAL_PROMPT = "普通"  # upstream's neutral emotion label
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_SENTENCE_CHARS = 200  # far below BERT's 512 positions even for English word pieces
# Chunked vocoding (``synthesize_streaming``): the HiFi-GAN's receptive field is about +-13 mel frames, so
# vocoding a chunk with 16 frames of context on each side and keeping its hop-aligned centre equals
# whole-sentence vocoding (to float rounding). The first chunk is small so audio starts early; later
# chunks double up to the cap so the context overhead shrinks.
VOCODER_CONTEXT_FRAMES = 16
FIRST_CHUNK_FRAMES = 24  # 0.38 s of audio at 62.5 frames/s
MAX_CHUNK_FRAMES = 192
FRAMES_PER_CUT = 160  # at most one cut per 160 frames (2.6 s): context costs at most 20% more vocoding


@dataclass
class _Prepared:
    text: str
    ids: list[int]
    frontend_s: float


def _networks(parts: EngineParts, precision: str) -> Networks:
    """The parts' own numpy networks (ONNX) or, for torch modules, the torch wrapper (imports torch)."""
    own = getattr(parts, "networks", None)
    if own is not None:
        if precision != "fp32" and getattr(own, "precision", "fp32") != precision:
            from function.engines.base import EngineLoadError

            raise EngineLoadError(f"this runtime ({own.runtime}) was not built for precision {precision}")
        return own
    from function.engines.emotivoice.torch_networks import TorchNetworks

    return TorchNetworks(parts, precision=precision, runtime=getattr(parts, "runtime", "eager"))


class EmotiVoiceEngine:
    name = "emotivoice"
    # 2: the acoustic model takes a speaker embedding (mixing); snapshots of version 1 lack that input.
    version = "clean-room-2"
    supports_mix = True  # honours SynthesisRequest.mix (issue 16) on every runtime

    def __init__(
        self,
        parts: EngineParts,
        *,
        prompt_vectors: Mapping[str, np.ndarray] | None = None,
        batch_size: int = 4,
        sample_rate: int = 16000,
        precision: str = "fp32",
    ) -> None:
        """``prompt_vectors``: style vectors known in advance (a snapshot's), used without a BERT pass.
        ``precision="bf16"`` converts the eager vocoder in place (torch runtimes only)."""
        self.parts = parts
        self.networks = _networks(parts, precision)
        # networks built for a precision (ONNX Runtime, OpenVINO) say which; torch ones were built with ours
        self.precision: str = getattr(self.networks, "precision", precision)
        self.runtime: str = self.networks.runtime
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

    def speaker_vector(self, speaker: int) -> np.ndarray:
        """The speaker table's row for one speaker index (hidden,) float32."""
        return np.array(self.networks.speaker_embeddings[speaker], dtype=np.float32)

    def mix_vector(self, mix: VoiceMix) -> np.ndarray:
        """The weighted sum of the mixed voices' speaker-table rows (weights normalised to sum 1).

        A mix of one voice with weight 1.0 is that voice's row exactly (1.0 * row, nothing added)."""
        if not mix.parts:
            raise UnknownVoiceError("a voice mix needs at least one voice", param="voice")
        weights = np.array([float(w) for _, w in mix.parts], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise UnknownVoiceError("voice mix weights must be non-negative and not all zero", param="voice")
        weights = weights / weights.sum()
        rows = [self.table.resolve(voice)[1] for voice, _ in mix.parts]
        table = self.networks.speaker_embeddings
        out = np.float32(weights[0]) * table[rows[0]].astype(np.float32)
        for row, weight in zip(rows[1:], weights[1:]):
            out = out + np.float32(weight) * table[row].astype(np.float32)
        return np.asarray(out, dtype=np.float32)

    # --- model passes -----------------------------------------------------------------------------
    def _bert_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Pooler outputs (len(texts), 768) in one padded, masked batch."""
        encoded = [self.parts.tokenizer.encode(t) for t in texts]
        longest = max(len(e) for e in encoded)
        ids = np.full((len(encoded), longest), self.parts.tokenizer.pad_id, dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        out = self.networks.bert(ids, lengths)
        with self._stats_lock:
            self.stats["bert_passes"] += 1
        return out

    def acoustic(
        self, ids: Sequence[Sequence[int]], speaker: int | np.ndarray, style: np.ndarray, content: np.ndarray,
        speed: float,
    ) -> list[np.ndarray]:
        """Frames (T_i, 80) for each id sequence, run as one masked batch. ``speaker``: an index into the
        speaker table or an embedding vector (hidden,) (a mix)."""
        vector = self.speaker_vector(speaker) if isinstance(speaker, (int, np.integer)) else speaker
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        batch = np.zeros((len(ids), int(lengths.max())), dtype=np.int64)
        for i, seq in enumerate(ids):
            batch[i, : len(seq)] = seq
        n = len(ids)
        return self.networks.acoustic(
            batch, lengths,
            np.repeat(np.asarray(vector, dtype=np.float32).reshape(1, -1), n, axis=0),  # fresh, writable
            np.repeat(np.asarray(style, dtype=np.float32).reshape(1, -1), n, axis=0),
            np.array(content, dtype=np.float32),
            # One speed per item, as every runtime takes it; dividing by it equals dividing by the float.
            np.full((n,), speed, dtype=np.float32),
        )

    def vocode(self, frames: np.ndarray) -> np.ndarray:
        wav = self.networks.vocode(frames)
        return np.clip(wav.astype(np.float32, copy=False), -1.0, 1.0)

    @staticmethod
    def chunk_bounds(total: int, first: int = FIRST_CHUNK_FRAMES, cap: int = MAX_CHUNK_FRAMES,
                     frames_per_cut: int = FRAMES_PER_CUT) -> list[tuple[int, int]]:
        """Frame ranges [start, end) covering ``total`` frames: ``first``, then doubling up to ``cap``,
        with at most one cut per ``frames_per_cut`` frames; the last piece takes what is left.

        Why the budget: every cut re-vocodes twice ``VOCODER_CONTEXT_FRAMES`` of context, so a short
        sentence cut like a long one cost 1.6x its whole-sentence vocoding (a 1.7 s sentence in three
        pieces, measured) for a first-audio gain of a fraction of a second. One cut per 160 frames keeps
        the extra vocoding within 20% (32 / 160) for any length; a sentence under 160 frames (2.6 s)
        comes whole."""
        cuts = total // max(1, frames_per_cut)
        bounds, start, size = [], 0, max(1, first)
        while start < total:
            end = total if len(bounds) >= cuts else min(total, start + size)
            bounds.append((start, end))
            start, size = end, min(cap, size * 2)
        return bounds

    def vocode_chunks(self, frames: np.ndarray, context: int = VOCODER_CONTEXT_FRAMES) -> Iterator[np.ndarray]:
        """The sentence's waveform in pieces (see ``chunk_bounds``) whose concatenation equals
        :meth:`vocode` of the whole sentence within float rounding (tested: 1e-4)."""
        total = len(frames)
        for start, end in self.chunk_bounds(total):
            lo, hi = max(0, start - context), min(total, end + context)
            wav = self.vocode(frames[lo:hi])
            yield wav[(start - lo) * self.hop : (end - lo) * self.hop]

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
        return self._start(request, chunked=False)

    def _start(self, request: SynthesisRequest, *, chunked: bool) -> Iterator[AudioChunk]:
        """Resolve and validate now (errors before the first chunk), then generate lazily."""
        if request.mix is not None:  # a custom voice (issue 16): ``voice`` names it, the mix defines it
            speaker = self.mix_vector(request.mix)
        else:
            speaker = self.speaker_vector(self.table.resolve(request.voice)[1])
        style_text = self.resolve_style(request.prompt).prompt
        speed = min(max(float(request.speed or 1.0), MIN_SPEED), MAX_SPEED)
        sentences = self.prepare(request.text)
        if not sentences:
            raise InvalidTextError("the text contains nothing EmotiVoice can speak", param="input")
        return self._generate(sentences, speaker, style_text, speed, chunked)

    def synthesize_streaming(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Like :meth:`synthesize`, but each sentence comes as several chunks vocoded piecewise
        (``vocode_chunks``): the first audio of a long sentence after a small part of its vocoding instead
        of all of it. Concatenated, the chunks equal :meth:`synthesize`'s output within 1e-4."""
        return self._start(request, chunked=True)

    def _generate(self, sentences: list[_Prepared], speaker: np.ndarray, style_text: str, speed: float,
                  chunked: bool = False) -> Iterator[AudioChunk]:
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
                share = weights[k] / total
                # lazily, so the vocoder's seconds fall inside its timer below
                pieces = self.vocode_chunks(mel) if chunked else (self.vocode(m) for m in (mel,))
                first = True
                while True:
                    v0 = time.perf_counter()
                    pcm = next(pieces, None)
                    if pcm is None:
                        break
                    timings = {"vocoder": time.perf_counter() - v0}
                    if first:  # the sentence's other stages are counted once, on its first chunk
                        timings.update(frontend=sentence.frontend_s, bert=(t1 - t0) * share + style_s,
                                       acoustic=(t2 - t1) * share)
                        style_s, first = 0.0, False
                    if len(pcm):
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

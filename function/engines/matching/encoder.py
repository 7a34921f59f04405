"""The speaker encoder at serving time: resemblyzer's network exported to ONNX (``export``), run by
onnxruntime on the numpy mel front end (``frontend``). Loaded lazily, once per process, the first time a
voice is created or an index is built: pods that never match voices never pay for it.

An embedding is what resemblyzer's ``embed_utterance`` computes: the L2-normalised mean of the
normalised embeddings of 1.6 s partial windows. ``embed_speaker`` averages several utterances the same way
(the voice index embeds each built-in voice from a few probe sentences).

Imports numpy, onnxruntime (lazily) and ``function.errors``; never torch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from function.engines.matching.frontend import partial_mels
from function.errors import Kind, ServiceError

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "data" / "speaker_encoder.onnx"
EMBEDDING_SIZE = 256
_MAX_BATCH = 16  # partials per ONNX call: bounds memory for a 30 s clip (~23 partials)


def sidecar_path(model: Path) -> Path:
    return model.with_suffix(".json")


def encoder_unavailable(detail: str) -> ServiceError:
    return ServiceError(Kind.UNAVAILABLE, "speaker_encoder_unavailable",
                        f"Voice matching is not available on this instance: {detail}")


class SpeakerEncoder:
    """One onnxruntime session; ``embed`` is thread-safe (onnxruntime sessions are)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise encoder_unavailable("onnxruntime is not installed (pip extra 'matching')") from exc
        if not path.is_file():
            raise encoder_unavailable(
                f"the speaker encoder {path} is missing; build it with "
                "`python -m function.engines.matching.export` (make install does)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged file: onnxruntime raises its own types
            raise encoder_unavailable(f"the speaker encoder {path} cannot be loaded ({type(exc).__name__})") from exc
        sidecar = sidecar_path(path)
        self.info: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        # Versioned by the weights it was exported from (the same weights exported twice are the same
        # encoder, even if the ONNX bytes differ); by the file itself when the sidecar is missing.
        weights = str(self.info.get("weights_sha256") or hashlib.sha256(path.read_bytes()).hexdigest())
        self.version = "resemblyzer-" + weights[:12]

    def partial_embeddings(self, wav: np.ndarray) -> np.ndarray:
        """(partials, 256) normalised embeddings of the 1.6 s windows of a preprocessed 16 kHz clip."""
        mels = partial_mels(wav)
        outs = [self._session.run(None, {"mels": mels[i : i + _MAX_BATCH]})[0] for i in range(0, len(mels), _MAX_BATCH)]
        return np.concatenate(outs).astype(np.float32)

    def embed(self, wav: np.ndarray) -> np.ndarray:
        """The utterance embedding (256,), unit length: resemblyzer's ``embed_utterance``."""
        return _unit(self.partial_embeddings(wav).mean(axis=0))

    def embed_speaker(self, wavs: Sequence[np.ndarray]) -> np.ndarray:
        """One embedding for several utterances of a voice: resemblyzer's ``embed_speaker``."""
        return _unit(np.mean([self.embed(w) for w in wavs], axis=0))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


_lock = threading.Lock()
_loaded: dict[Path, SpeakerEncoder] = {}


def shared_encoder(path: Path | None = None) -> SpeakerEncoder:
    """The process's encoder for ``path`` (default: the exported file inside this package), loaded on
    first use; a failed load raises ``speaker_encoder_unavailable`` and is retried on the next call."""
    path = (path or DEFAULT_MODEL_PATH).resolve()
    with _lock:
        encoder = _loaded.get(path)
        if encoder is None:
            encoder = _loaded[path] = SpeakerEncoder(path)
        return encoder

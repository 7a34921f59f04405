"""What an :class:`~function.engines.emotivoice.engine.EmotiVoiceEngine` is built from, as call signatures.

The engine runs three networks and reads a home's tables; it does not care who built them. Three runtimes
fill this shape: the eager loader (``loader.LoadedHome``: the modules of ``acoustic.py``, ``bert.py``
and ``vocoder.py`` themselves), the TorchScript snapshot runtime (``snapshot_runtime.SnapshotParts``: the
same modules compiled and read from a snapshot) and the ONNX runtime (``onnx_runtime.OnnxParts``: the
same modules exported as ONNX graphs, run by ONNX Runtime without torch). All get the same engine:
frontend, sentence splitting, batching, prompt cache, speaker mixing.

The engine itself speaks numpy to the networks (:class:`Networks`), so it never imports torch: parts that
carry torch modules are wrapped by ``torch_networks.TorchNetworks`` (imported only for them); parts that
already speak numpy (ONNX) expose ``networks`` themselves.

Owns only the shape; imports nothing of the engine at run time (type names only), never a runtime,
never ``snapshot/`` (the build step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from function.engines.emotivoice.english import Lexicon
    from function.engines.emotivoice.tokenizer import WordPieceTokenizer


class AcousticNetwork(Protocol):
    """``ids`` (B, N) padded, ``lengths`` (B,), ``speakers`` (B,), ``style``/``content`` (B, S), ``speed``
    (B,) float32 -> one (T_i, n_mels) frame tensor per item, trimmed to its length."""

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor, style: torch.Tensor,
                 content: torch.Tensor, speed: torch.Tensor) -> list[torch.Tensor]: ...


class StyleEncoder(Protocol):
    """BERT: ``ids`` (B, T) padded, ``lengths`` (B,) -> pooler output (B, hidden)."""

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor: ...


class VocoderNetwork(Protocol):
    """(B, n_mels, T) frames -> (B, T * hop) waveform."""

    def __call__(self, mel: torch.Tensor) -> torch.Tensor: ...


class Networks(Protocol):
    """The three networks as the engine calls them: numpy in, numpy out, float32 and int64.

    ``speaker_embeddings`` is the acoustic model's speaker table (n_speaker, hidden): the engine looks a
    speaker's row up (or blends rows for a mix) and passes the vector, never an id, so mixing needs no
    change inside any graph. ``runtime`` names the runtime for readiness and metrics.
    """

    runtime: str

    @property
    def speaker_embeddings(self) -> np.ndarray: ...

    def bert(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``ids`` (B, T) padded int64, ``lengths`` (B,) -> pooler output (B, hidden) float32."""
        ...

    def acoustic(self, ids: np.ndarray, lengths: np.ndarray, speaker: np.ndarray, style: np.ndarray,
                 content: np.ndarray, speed: np.ndarray) -> list[np.ndarray]:
        """``speaker`` (B, hidden) embeddings, ``speed`` (B,) -> one (T_i, n_mels) array per item."""
        ...

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        """(T, n_mels) frames of one sentence -> (T * hop,) float32 waveform (not clipped)."""
        ...


class EngineParts(Protocol):
    """The three networks, the vocoder's samples per frame, and the tables the frontend and voices read."""

    @property
    def acoustic(self) -> AcousticNetwork: ...

    @property
    def bert(self) -> StyleEncoder: ...

    @property
    def vocoder(self) -> VocoderNetwork: ...

    @property
    def hop(self) -> int: ...

    @property
    def tokenizer(self) -> WordPieceTokenizer: ...

    @property
    def token_ids(self) -> Mapping[str, int]: ...

    @property
    def speakers(self) -> Sequence[str]: ...

    @property
    def lexicon(self) -> Lexicon: ...

    @property
    def prompt_vocabulary(self) -> Sequence[str]: ...

    @property
    def speaker_table(self) -> Mapping[str, tuple[str, str, str]]: ...

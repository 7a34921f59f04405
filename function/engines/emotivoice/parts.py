"""What an :class:`~function.engines.emotivoice.engine.EmotiVoiceEngine` is built from, as call signatures.

The engine runs three networks and reads a home's tables; it does not care who built them. Two runtimes
fill this shape today: the eager loader (``loader.LoadedHome``: the modules of ``acoustic.py``, ``bert.py``
and ``vocoder.py`` themselves) and the snapshot runtime (``snapshot_runtime.SnapshotParts``: the same
modules compiled by TorchScript and read from a snapshot). Another runtime (for example an ONNX one)
fills the same shape and gets the same engine: frontend, sentence splitting, batching, prompt cache.

Owns only the shape; imports nothing of the engine at run time (type names only), never a runtime,
never ``snapshot/`` (the build step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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

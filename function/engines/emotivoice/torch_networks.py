"""The torch modules of a part set (eager ``loader.LoadedHome`` or TorchScript ``SnapshotParts``) behind
the engine's numpy :class:`~function.engines.emotivoice.parts.Networks` interface.

Owns the torch side of a forward pass: ``inference_mode`` (entered per call, never across a ``yield``),
tensor conversion, the opt-in bf16 vocoder. The engine imports this module only for parts that carry
torch modules, so an ONNX-served process never loads torch. Must not import the loader, a snapshot
runtime or ``snapshot/`` (the build step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from function.engines.base import EngineLoadError

if TYPE_CHECKING:
    from function.engines.emotivoice.parts import EngineParts


class TorchNetworks:
    """Numpy in, numpy out over torch modules; read-only after construction, so thread-safe."""

    def __init__(self, parts: EngineParts, *, precision: str = "fp32", runtime: str = "eager") -> None:
        """``precision="bf16"`` converts the vocoder (an ``nn.Module``: the eager path) in place."""
        self._parts = parts
        self.runtime = runtime
        if precision == "bf16":  # the vocoder is ~90% of the work; BERT and the acoustic model stay fp32
            if not isinstance(parts.vocoder, nn.Module) or isinstance(parts.vocoder, torch.jit.ScriptModule):
                raise EngineLoadError("bf16 needs the vocoder as a torch module (the eager path)")
            parts.vocoder.to(torch.bfloat16)
        # The speaker table, shared with the module (no copy); rows are looked up on numpy by the engine.
        weight = parts.acoustic.spk_tokenizer.weight  # type: ignore[attr-defined]
        self._speakers = weight.detach().float().numpy()

    @property
    def speaker_embeddings(self) -> np.ndarray:
        return self._speakers

    def bert(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self._parts.bert(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()

    def acoustic(self, ids: np.ndarray, lengths: np.ndarray, speaker: np.ndarray, style: np.ndarray,
                 content: np.ndarray, speed: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            frames = self._parts.acoustic(
                torch.from_numpy(ids), torch.from_numpy(lengths), torch.zeros(len(ids), dtype=torch.long),
                torch.from_numpy(style), torch.from_numpy(content), torch.from_numpy(speed),
                torch.from_numpy(speaker))
            return [f.numpy() for f in frames]

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            wav = self._parts.vocoder(torch.from_numpy(np.ascontiguousarray(mel.T))[None])[0]
            return wav.float().numpy()

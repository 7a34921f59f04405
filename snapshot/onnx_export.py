"""Export the engine's three networks to ONNX graphs for the torch-free runtime (issue 13).

What is exported is the engine's own modules (``function/engines/emotivoice/{acoustic,bert,vocoder}.py``),
called through thin wrappers that make their arithmetic traceable, never a second copy of the weights'
meaning:

* BERT: the padding mask is always built from ``lengths`` (eager skips it for a batch of one, where it is
  an exact no-op), so one graph serves every batch size.
* Acoustic model, one graph: the speaker EMBEDDING (hidden,) per item is an input (looked up or blended
  on numpy outside the graph: speaker mixing, issue 16); the positional table is computed in the graph
  (arange -> sin/cos, interleaved) instead of the eager module's Python-side cache; the token and frame
  masks are always applied (exact no-ops for one item); the "all durations zero" fallback is a
  ``torch.where`` instead of a Python ``bool()``; the frame count is an ``arange`` over a 0-d tensor so it
  stays dynamic. Outputs are the padded mel batch and the per-item frame counts; trimming is numpy.
* Vocoder: unchanged (a fixed stack of convolutions).

Exporter: ``torch.onnx.export(dynamo=False)`` (the TorchScript-based exporter: the dynamo exporter
fails on the acoustic model's data-dependent frame count), opset 17, every time axis and the batch axis
dynamic. Weights are stored as external data (one ``.data`` file per graph: sessions are created ~2x
faster than from an inlined protobuf). Offline optimisation runs ONNX Runtime at the EXTENDED level
only, which is portable across CPUs (the ALL level adds layout transforms tied to the building CPU).

Build-time only: imports torch and onnxruntime; the serving side reads the files through
``function/engines/emotivoice/onnx_runtime.py``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from function.engines.emotivoice import snapshot_format as fmt

OPSET = 17


def _positional(x: torch.Tensor, alpha: torch.Tensor, dim: int) -> torch.Tensor:
    """x + alpha * PE with PE computed from x's (dynamic) length: the values of ``sinusoid_table``,
    sin/cos interleaved by stacking instead of strided assignment (traceable, same arithmetic)."""
    pos = torch.arange(x.shape[1], dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    angle = pos * div
    pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(x.shape[1], dim)
    return x + alpha * pe[None]


def _encode(encoder: Any, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``acoustic._Encoder.forward`` with the in-graph positional table and the mask always applied."""
    key_mask = mask[:, None, None, :, 0].to(torch.bool)
    x = _positional(x, encoder.embed[0].alpha, encoder.embed[0].dim)
    for block in encoder.encoders:
        x = block(x, mask, key_mask)
    return encoder.after_norm(x)


class AcousticGraph(nn.Module):
    """The acoustic model as one exportable graph (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, speaker: torch.Tensor, style: torch.Tensor,
                content: torch.Tensor, speed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        b, n = ids.shape
        token_valid = torch.arange(n)[None, :] < lengths[:, None]
        mask = token_valid[..., None].to(torch.float32)
        x = _encode(m.encoder, m.src_word_emb(ids), mask)
        cond = torch.cat([speaker, style, content], dim=-1)
        x = torch.cat([x, cond[:, None, :].expand(b, n, cond.shape[-1])], dim=-1)
        x = m.embed_projection1(x)
        pitch = m.pitch_predictor(x, mask)
        energy = m.energy_predictor(x, mask)
        log_duration = m.duration_predictor(x, mask)
        raw = (torch.exp(log_duration) - 1.0) / speed[:, None]
        d = torch.clamp(torch.round(raw), min=0.0) * token_valid
        empty = d.sum(dim=1) == 0
        d = torch.where(empty[:, None], token_valid.to(d.dtype), d)
        x = x + m.pitch_embed(pitch) + m.energy_embed(energy)
        counts = d.sum(dim=1).long()
        t = torch.arange(counts.max(), dtype=torch.float32)  # a 0-d tensor: the frame count stays dynamic
        centres = torch.cumsum(d, dim=1) - d / 2
        energy_w = -0.1 * (t[None, :, None] - centres[:, None, :]) ** 2
        energy_w = energy_w.masked_fill(~token_valid[:, None, :], float("-inf"))
        frames = torch.bmm(torch.softmax(energy_w, dim=2), x)
        frame_mask = (t[None, :] < counts[:, None].to(torch.float32))[..., None].to(torch.float32)
        mel = m.to_mel(_encode(m.decoder, frames, frame_mask))
        return mel, counts


class BertGraph(nn.Module):
    """BERT's pooler output with the padding mask always built from ``lengths``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = self.model
        valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        mask = valid[:, None, None, :]
        x = m.embeddings(ids)
        for layer in m.encoder.layer:
            x = layer(x, mask)
        return torch.tanh(m.pooler.dense(x[:, 0]))


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str], outputs: list[str],
            axes: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)


def _optimise_to(raw: Path, final: Path) -> None:
    """ONNX Runtime's EXTENDED graph optimisations (fusions that run on any CPU), saved with the weights
    as external data beside ``final``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(final)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                     final.name + ".data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])


def export_graphs(loaded: Any, out: Path) -> dict[str, Any]:
    """Write ``acoustic.onnx``, ``bert.onnx``, ``vocoder.onnx`` (+ ``.data``) into ``out``; returns the
    export facts for the manifest."""
    cfg = loaded.acoustic.config
    n_mels = loaded.vocoder.config.n_mels
    specs = {
        fmt.ONNX_ACOUSTIC: (
            AcousticGraph(loaded.acoustic),
            (torch.ones(2, 7, dtype=torch.long), torch.tensor([7, 5]), torch.zeros(2, cfg.hidden),
             torch.zeros(2, cfg.style_dim), torch.zeros(2, cfg.style_dim), torch.ones(2)),
            ["ids", "lengths", "speaker", "style", "content", "speed"], ["mel", "frames"],
            {"ids": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"}, "speaker": {0: "batch"},
             "style": {0: "batch"}, "content": {0: "batch"}, "speed": {0: "batch"},
             "mel": {0: "batch", 1: "time"}, "frames": {0: "batch"}},
        ),
        fmt.ONNX_BERT: (
            BertGraph(loaded.bert),
            (torch.ones(2, 6, dtype=torch.long), torch.tensor([6, 4])),
            ["ids", "lengths"], ["pooled"],
            {"ids": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"}, "pooled": {0: "batch"}},
        ),
        fmt.ONNX_VOCODER: (
            loaded.vocoder, (torch.randn(1, n_mels, 37),), ["mel"], ["wav"],
            {"mel": {0: "batch", 2: "time"}, "wav": {0: "batch", 1: "samples"}},
        ),
    }
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as tmp:
        for name, (module, args, inputs, outputs, axes) in specs.items():
            raw = Path(tmp) / name
            _export(module, args, raw, inputs, outputs, axes)
            _optimise_to(raw, out / name)
            for leftover in Path(tmp).iterdir():
                leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
    return {"opset": OPSET, "exporter": "torch.onnx.export(dynamo=False)", "optimisation": "ORT_ENABLE_EXTENDED",
            "external_data": True,
            "dynamic_axes": {name: {io: {str(axis): label for axis, label in dims.items()}
                                    for io, dims in spec[4].items()} for name, spec in specs.items()}}

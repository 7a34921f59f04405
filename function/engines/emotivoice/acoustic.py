"""EmotiVoice's acoustic model (PromptTTS "am.*"), inference path only, from SPEC.

Parameter names match the checkpoint with the ``am.`` prefix removed, so ``load_state_dict`` checks every
key. Batching: upstream only ever runs one item and its decoder has no mask, so naive padding would change
the result. Here every convolution input has padded positions zeroed and every attention masks padded keys;
with no padding (one item) these are no-ops, and with padding each item sees exactly what it would see
alone. The alignment module (training only) is not built.

``torch.jit.script`` compiles this very ``AcousticModel`` (the snapshot build does), so the forward code
exists once: annotations that TorchScript reads, and ``torch.jit.is_scripting()`` only to swap the
positional-encoding cache (a lock and a growing table) for recomputing the same values. Owns the
acoustic model's arithmetic; imports only torch (never the loader, the engine, a snapshot runtime or
``snapshot/``, the build step).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AcousticConfig:
    n_vocab: int = 502
    n_speaker: int = 2014
    hidden: int = 384
    style_dim: int = 768
    encoder_layers: int = 4
    decoder_layers: int = 4
    heads: int = 8
    ffn: int = 1536
    ffn_kernel: int = 3
    pitch_layers: int = 3
    energy_layers: int = 2
    duration_layers: int = 2
    variance_kernel: int = 3
    embed_kernel: int = 9
    n_mels: int = 80


def _zero_pad(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded time steps of (B, T, C) so a convolution sees the same as an unpadded item."""
    return x if mask is None else x * mask


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same), shape (length, dim)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class _PositionalEncoding(nn.Module):
    """x + alpha * PE (learnable scalar alpha; no sqrt(d) scaling). The sin/cos table grows on demand.

    Compiled, the module keeps no table (no lock, no mutable state in an archive) and computes PE per call
    with the same element-wise formula.
    """

    __jit_ignored_attributes__ = ["_table", "_lock"]

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.dim = dim
        self._table = torch.zeros(0, dim)
        self._lock = threading.Lock()

    @torch.jit.unused
    def table(self, length: int) -> torch.Tensor:
        table = self._table
        if table.shape[0] >= length:
            return table[:length]
        with self._lock:
            if self._table.shape[0] < length:
                self._table = sinusoid_table(max(length, 2 * self._table.shape[0], 1024), self.dim)
            return self._table[:length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            pe = sinusoid_table(x.shape[1], self.dim)
        else:
            pe = self.table(x.shape[1])
        return x + self.alpha * pe[None]


class _MultiHeadAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q = self.linear_q(x).view(b, t, self.heads, -1).transpose(1, 2)
        k = self.linear_k(x).view(b, t, self.heads, -1).transpose(1, 2)
        v = self.linear_v(x).view(b, t, self.heads, -1).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.linear_out(ctx.transpose(1, 2).reshape(b, t, d))


class _ConvFeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.w_1 = nn.Conv1d(dim, hidden, kernel, padding=kernel // 2)
        self.w_2 = nn.Conv1d(hidden, dim, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.w_1(_zero_pad(x, mask).transpose(1, 2))
        h = F.gelu(h)
        if mask is not None:
            h = h * mask.transpose(1, 2)
        return self.w_2(h).transpose(1, 2)


class _Block(nn.Module):
    def __init__(self, cfg: AcousticConfig) -> None:
        super().__init__()
        self.self_attn = _MultiHeadAttention(cfg.hidden, cfg.heads)
        self.feed_forward = _ConvFeedForward(cfg.hidden, cfg.ffn, cfg.ffn_kernel)
        self.norm1 = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.norm2 = nn.LayerNorm(cfg.hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x), key_mask)
        return x + self.feed_forward(self.norm2(x), mask)


class _Encoder(nn.Module):
    """Used for both ``encoder`` and ``decoder`` (same structure, different weights)."""

    def __init__(self, cfg: AcousticConfig, layers: int) -> None:
        super().__init__()
        self.embed = nn.ModuleList([_PositionalEncoding(cfg.hidden)])
        self.encoders = nn.ModuleList(_Block(cfg) for _ in range(layers))
        self.after_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        key_mask = None if mask is None else mask[:, None, None, :, 0].to(torch.bool)
        x = self.embed[0](x)
        for block in self.encoders:
            x = block(x, mask, key_mask)
        return self.after_norm(x)


class _ConvReluNorm(nn.Module):
    """Keys ``N.0`` (conv) and ``N.2`` (LayerNorm over channels); index 1 is the parameter-free ReLU."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.add_module("0", nn.Conv1d(dim, dim, kernel, padding=kernel // 2))
        self.add_module("1", nn.ReLU())
        self.add_module("2", nn.LayerNorm(dim, eps=1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        h = torch.relu(getattr(self, "0")(x.transpose(1, 2))).transpose(1, 2)
        return getattr(self, "2")(h)


class _VariancePredictor(nn.Module):
    def __init__(self, dim: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.ModuleList(_ConvReluNorm(dim, kernel) for _ in range(layers))
        self.linear = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.conv:
            x = layer(_zero_pad(x, mask))
        out = self.linear(x).squeeze(-1)
        return out if mask is None else out * mask[..., 0]


class _Embed1d(nn.Module):
    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.add_module("0", nn.Conv1d(1, dim, kernel, padding=kernel // 2))

    def forward(self, values: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, C)
        return getattr(self, "0")(values[:, None, :]).transpose(1, 2)


class AcousticModel(nn.Module):
    """Token ids + speaker + style/content vectors -> 80-d frames (62.5 per second)."""

    def __init__(self, cfg: AcousticConfig) -> None:
        super().__init__()
        self.config = cfg
        self.src_word_emb = nn.Embedding(cfg.n_vocab, cfg.hidden)
        self.spk_tokenizer = nn.Embedding(cfg.n_speaker, cfg.hidden)
        self.encoder = _Encoder(cfg, cfg.encoder_layers)
        self.embed_projection1 = nn.Linear(cfg.hidden * 2 + cfg.style_dim * 2, cfg.hidden)
        self.duration_predictor = _VariancePredictor(cfg.hidden, cfg.duration_layers, cfg.variance_kernel)
        self.pitch_predictor = _VariancePredictor(cfg.hidden, cfg.pitch_layers, cfg.variance_kernel)
        self.energy_predictor = _VariancePredictor(cfg.hidden, cfg.energy_layers, cfg.variance_kernel)
        self.pitch_embed = _Embed1d(cfg.hidden, cfg.embed_kernel)
        self.energy_embed = _Embed1d(cfg.hidden, cfg.embed_kernel)
        self.decoder = _Encoder(cfg, cfg.decoder_layers)
        self.to_mel = nn.Linear(cfg.hidden, cfg.n_mels)

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        speakers: torch.Tensor,
        style: torch.Tensor,
        content: torch.Tensor,
        speed: torch.Tensor | float = 1.0,
        speaker_embedding: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """``ids`` (B, N) padded, ``lengths`` (B,), ``speakers`` (B,), ``style``/``content`` (B, 768),
        ``speed`` scalar or (B,). Returns one (T_i, 80) frame tensor per item, trimmed to its length.

        ``speaker_embedding`` (B, hidden), when given, replaces the lookup of ``speakers`` in the speaker
        table: the engine passes the table row itself (identical to the lookup) or a weighted blend of
        rows (speaker mixing, issue 16), computed on numpy so every runtime takes the same input."""
        b, n = ids.shape
        token_valid = torch.arange(n, device=ids.device)[None, :] < lengths[:, None]
        padded = bool((~token_valid).any())
        mask = token_valid[..., None].to(torch.float32) if padded else None

        x = self.encoder(self.src_word_emb(ids), mask)
        if speaker_embedding is None:
            speaker_vector = self.spk_tokenizer(speakers)
        else:
            speaker_vector = speaker_embedding
        cond = torch.cat([speaker_vector, style, content], dim=-1)
        x = torch.cat([x, cond[:, None, :].expand(b, n, cond.shape[-1])], dim=-1)
        x = self.embed_projection1(x)

        pitch = self.pitch_predictor(x, mask)
        energy = self.energy_predictor(x, mask)
        log_duration = self.duration_predictor(x, mask)
        durations = self.durations(log_duration, token_valid, speed)
        x = x + self.pitch_embed(pitch) + self.energy_embed(energy)

        frames, frame_counts = self.upsample(x, durations, token_valid)
        frame_mask: torch.Tensor | None = None
        if b > 1 and bool((frame_counts != frames.shape[1]).any()):
            valid = torch.arange(frames.shape[1], device=ids.device)[None, :] < frame_counts[:, None]
            frame_mask = valid[..., None].to(torch.float32)
        mel = self.to_mel(self.decoder(frames, frame_mask))
        return [mel[i, : int(frame_counts[i])] for i in range(b)]

    @staticmethod
    def durations(log_duration: torch.Tensor, token_valid: torch.Tensor, speed: torch.Tensor | float) -> torch.Tensor:
        """Frames per token: round(max(exp(y) - 1, 0) / speed), padded tokens 0; an all-zero item gets all 1."""
        if isinstance(speed, torch.Tensor):
            raw = (torch.exp(log_duration) - 1.0) / (speed[:, None] if speed.dim() == 1 else speed)
        else:
            raw = (torch.exp(log_duration) - 1.0) / speed
        d = torch.clamp(torch.round(raw), min=0.0) * token_valid
        empty = d.sum(dim=1) == 0
        if bool(empty.any()):
            d = torch.where(empty[:, None], token_valid.to(d.dtype), d)
        return d

    @staticmethod
    def upsample(x: torch.Tensor, durations: torch.Tensor, token_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian upsampling: frame t takes softmax_n(-0.1 (t - c_n)^2) over tokens, c = cumsum(d) - d/2."""
        counts = durations.sum(dim=1).long()
        total = int(counts.max())
        t = torch.arange(total, device=x.device, dtype=x.dtype)
        centres = torch.cumsum(durations, dim=1) - durations / 2
        energy = -0.1 * (t[None, :, None] - centres[:, None, :]) ** 2
        energy = energy.masked_fill(~token_valid[:, None, :], float("-inf"))
        weights = torch.softmax(energy, dim=2)
        return torch.bmm(weights, x), counts

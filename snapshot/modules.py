"""TorchScript-ready mirrors of the eager engine's modules, sharing the eager modules' parameters.

The eager modules (``function/engines/emotivoice/{acoustic,bert}.py``) are written for clarity and
thread-safe lazy tables, not for ``torch.jit.script`` (locks, dataclass configs, ``float | Tensor``
arguments, ModuleList indexing by variables). These mirrors re-state the same arithmetic in scriptable
form and *hold the eager submodules themselves* (Linear, Conv1d, LayerNorm, Embedding), so no weight
is copied or converted. The build verifies the compiled result against the eager engine on a sentence
set and refuses to write a snapshot past the tolerance, so a drift between the two is caught at build
time, never in production.

* acoustic model: **scripted** (data-dependent control flow: duration rounding, the all-zero fallback,
  Gaussian upsampling to a length known only at run time, per-item trimming);
* BERT: **scripted** (the padding mask exists only for batches);
* vocoder: **traced** (a fixed stack of convolutions, no control flow; see ``build.py``).
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn


class _Attention(nn.Module):
    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        self.heads: int = int(eager.heads)
        self.linear_q = eager.linear_q
        self.linear_k = eager.linear_k
        self.linear_v = eager.linear_v
        self.linear_out = eager.linear_out

    def forward(self, x: torch.Tensor, key_mask: Optional[torch.Tensor]) -> torch.Tensor:
        b, t, d = x.shape[0], x.shape[1], x.shape[2]
        q = self.linear_q(x).view(b, t, self.heads, -1).transpose(1, 2)
        k = self.linear_k(x).view(b, t, self.heads, -1).transpose(1, 2)
        v = self.linear_v(x).view(b, t, self.heads, -1).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.linear_out(ctx.transpose(1, 2).reshape(b, t, d))


class _Block(nn.Module):
    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        self.self_attn = _Attention(eager.self_attn)
        self.w_1 = eager.feed_forward.w_1
        self.w_2 = eager.feed_forward.w_2
        self.norm1 = eager.norm1
        self.norm2 = eager.norm2

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], key_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x), key_mask)
        h = self.norm2(x)
        if mask is not None:
            h = h * mask
        h = F.gelu(self.w_1(h.transpose(1, 2)))
        if mask is not None:
            h = h * mask.transpose(1, 2)
        return x + self.w_2(h).transpose(1, 2)


class _Encoder(nn.Module):
    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        pe = eager.embed[0]
        self.alpha = pe.alpha
        self.dim: int = int(pe.dim)
        self.encoders = nn.ModuleList([_Block(block) for block in eager.encoders])
        self.after_norm = eager.after_norm

    def positions(self, length: int) -> torch.Tensor:
        # The same element-wise formula as the eager table, so values are bit-identical.
        pos = torch.arange(length, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * -(math.log(10000.0) / self.dim))
        pe = torch.zeros(length, self.dim)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return pe

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        key_mask: Optional[torch.Tensor] = None
        if mask is not None:
            key_mask = mask[:, None, None, :, 0].to(torch.bool)
        x = x + self.alpha * self.positions(x.shape[1])[None]
        for block in self.encoders:
            x = block(x, mask, key_mask)
        return self.after_norm(x)


class _ConvReluNorm(nn.Module):
    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        self.conv = getattr(eager, "0")
        self.norm = getattr(eager, "2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2))


class _VariancePredictor(nn.Module):
    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        self.conv = nn.ModuleList([_ConvReluNorm(layer) for layer in eager.conv])
        self.linear = eager.linear

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        for layer in self.conv:
            if mask is not None:
                x = x * mask
            x = layer(x)
        out = self.linear(x).squeeze(-1)
        if mask is not None:
            out = out * mask[:, :, 0]
        return out


class ScriptableAcoustic(nn.Module):
    """``forward(ids (B,N), lengths (B,), speakers (B,), style (B,S), content (B,S), speed (B,))`` ->
    one (T_i, n_mels) frame tensor per item, exactly the eager ``AcousticModel``'s inference path."""

    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        self.src_word_emb = eager.src_word_emb
        self.spk_tokenizer = eager.spk_tokenizer
        self.encoder = _Encoder(eager.encoder)
        self.embed_projection1 = eager.embed_projection1
        self.duration_predictor = _VariancePredictor(eager.duration_predictor)
        self.pitch_predictor = _VariancePredictor(eager.pitch_predictor)
        self.energy_predictor = _VariancePredictor(eager.energy_predictor)
        self.pitch_embed = getattr(eager.pitch_embed, "0")
        self.energy_embed = getattr(eager.energy_embed, "0")
        self.decoder = _Encoder(eager.decoder)
        self.to_mel = eager.to_mel

    def durations(self, log_duration: torch.Tensor, token_valid: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        raw = (torch.exp(log_duration) - 1.0) / speed[:, None]
        d = torch.clamp(torch.round(raw), min=0.0) * token_valid
        empty = d.sum(dim=1) == 0
        if bool(empty.any()):
            d = torch.where(empty[:, None], token_valid.to(d.dtype), d)
        return d

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        speakers: torch.Tensor,
        style: torch.Tensor,
        content: torch.Tensor,
        speed: torch.Tensor,
    ) -> List[torch.Tensor]:
        b, n = ids.shape[0], ids.shape[1]
        token_valid = torch.arange(n)[None, :] < lengths[:, None]
        mask: Optional[torch.Tensor] = None
        if bool((~token_valid).any()):
            mask = token_valid[:, :, None].to(torch.float32)

        x = self.encoder(self.src_word_emb(ids), mask)
        cond = torch.cat([self.spk_tokenizer(speakers), style, content], dim=-1)
        x = torch.cat([x, cond[:, None, :].expand(b, n, cond.shape[-1])], dim=-1)
        x = self.embed_projection1(x)

        pitch = self.pitch_predictor(x, mask)
        energy = self.energy_predictor(x, mask)
        log_duration = self.duration_predictor(x, mask)
        durations = self.durations(log_duration, token_valid, speed)
        x = x + self.pitch_embed(pitch[:, None, :]).transpose(1, 2) + self.energy_embed(energy[:, None, :]).transpose(1, 2)

        # Gaussian upsampling: frame t takes softmax_n(-0.1 (t - c_n)^2) over tokens, c = cumsum(d) - d/2.
        counts = durations.sum(dim=1).long()
        total = int(counts.max())
        t = torch.arange(total, dtype=x.dtype)
        centres = torch.cumsum(durations, dim=1) - durations / 2
        energy_w = -0.1 * (t[None, :, None] - centres[:, None, :]) ** 2
        energy_w = energy_w.masked_fill(~token_valid[:, None, :], float("-inf"))
        frames = torch.bmm(torch.softmax(energy_w, dim=2), x)

        frame_mask: Optional[torch.Tensor] = None
        if b > 1 and bool((counts != total).any()):
            valid = torch.arange(total)[None, :] < counts[:, None]
            frame_mask = valid[:, :, None].to(torch.float32)
        mel = self.to_mel(self.decoder(frames, frame_mask))
        out: List[torch.Tensor] = []
        for i in range(b):
            out.append(mel[i, : int(counts[i])])
        return out


class _BertLayer(nn.Module):
    def __init__(self, eager: nn.Module, approximate: str) -> None:
        super().__init__()
        self.heads: int = int(eager.heads)
        self.approximate = approximate
        att = eager.attention
        self.query = att.self.query
        self.key = att.self.key
        self.value = att.self.value
        self.att_dense = att.output.dense
        self.att_norm = att.output.LayerNorm
        self.intermediate = eager.intermediate.dense
        self.out_dense = eager.output.dense
        self.out_norm = eager.output.LayerNorm

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        b, t, d = x.shape[0], x.shape[1], x.shape[2]
        q = self.query(x).view(b, t, self.heads, -1).transpose(1, 2)
        k = self.key(x).view(b, t, self.heads, -1).transpose(1, 2)
        v = self.value(x).view(b, t, self.heads, -1).transpose(1, 2)
        scale = 1.0 / math.sqrt(float(d // self.heads))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        ctx = ctx.transpose(1, 2).reshape(b, t, d)
        x = self.att_norm(self.att_dense(ctx) + x)
        h = self.intermediate(x)
        if self.approximate == "relu":
            h = torch.relu(h)
        else:
            h = F.gelu(h, approximate=self.approximate)
        return self.out_norm(self.out_dense(h) + x)


class ScriptableBert(nn.Module):
    """``forward(ids (B,T), lengths (B,))`` -> pooler output (B, hidden), as the eager ``BertModel``."""

    def __init__(self, eager: nn.Module) -> None:
        super().__init__()
        act = getattr(eager.config, "hidden_act", "gelu")
        approximate = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "relu": "relu"}.get(act)
        if approximate is None:
            raise ValueError(f"unsupported BERT hidden_act {act!r}")
        emb = eager.embeddings
        self.word_embeddings = emb.word_embeddings
        self.position_embeddings = emb.position_embeddings
        self.token_type_embeddings = emb.token_type_embeddings
        self.emb_norm = emb.LayerNorm
        self.layers = nn.ModuleList([_BertLayer(layer, approximate) for layer in eager.encoder.layer])
        self.pooler = eager.pooler.dense

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        mask: Optional[torch.Tensor] = None
        if ids.shape[0] > 1:
            valid = torch.arange(t)[None, :] < lengths[:, None]
            mask = valid[:, None, None, :]
        x = self.word_embeddings(ids) + self.position_embeddings(torch.arange(t))[None]
        x = x + self.token_type_embeddings.weight[0]
        x = self.emb_norm(x)
        for layer in self.layers:
            x = layer(x, mask)
        return torch.tanh(self.pooler(x[:, 0]))

"""BERT-base encoder + pooler, parameter names identical to the style-encoder checkpoint's ``bert.*``.

Our own module instead of ``transformers``: the engine needs only the inference path (embeddings,
post-LayerNorm encoder layers, tanh pooler), and avoiding ``transformers`` keeps the image and the cold
start small. Attention uses ``scaled_dot_product_attention``; a padding mask makes batched prompts equal
to single ones.

``torch.jit.script`` compiles this very ``BertModel`` (the snapshot build does), so the forward code
exists once; hence the activation is chosen by a string (a stored lambda would not compile). Owns BERT's
arithmetic; imports only torch (never the loader, the engine, a snapshot runtime or ``snapshot/``, the
build step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 21128
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BertConfig:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)


# config.json's hidden_act -> F.gelu's ``approximate`` argument ("relu" stands for ReLU itself).
_APPROXIMATE = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "relu": "relu"}


def _activation(name: str) -> str:
    if name not in _APPROXIMATE:
        raise ValueError(f"unsupported BERT hidden_act {name!r}")
    return _APPROXIMATE[name]


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)[None]
        x = x + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)


class _SelfOutput(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(cfg)
        self.output = _SelfOutput(cfg)


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int, eps: float | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        if eps is not None:
            self.LayerNorm = nn.LayerNorm(n_out, eps=eps)


class BertLayer(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.attention = _Attention(cfg)
        self.intermediate = _Dense(cfg.hidden_size, cfg.intermediate_size)
        self.output = _Dense(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)
        self.activation = _activation(cfg.hidden_act)

    def act(self, h: torch.Tensor) -> torch.Tensor:
        return F.relu(h) if self.activation == "relu" else F.gelu(h, approximate=self.activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        att = self.attention.self
        q = att.query(x).view(b, t, self.heads, -1).transpose(1, 2)
        k = att.key(x).view(b, t, self.heads, -1).transpose(1, 2)
        v = att.value(x).view(b, t, self.heads, -1).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / math.sqrt(d // self.heads))
        ctx = ctx.transpose(1, 2).reshape(b, t, d)
        x = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + x)
        h = self.act(self.intermediate.dense(x))
        return self.output.LayerNorm(self.output.dense(h) + x)


class BertEncoder(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))


class BertPooler(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)


class BertModel(nn.Module):
    """``forward(ids, lengths)`` returns the pooler output ``tanh(W h_[CLS] + b)``, shape (B, hidden)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.pooler = BertPooler(cfg)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        mask: torch.Tensor | None = None
        if lengths is not None and ids.shape[0] > 1:
            valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
            mask = valid[:, None, None, :]
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return torch.tanh(self.pooler.dense(x[:, 0]))

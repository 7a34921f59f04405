"""Deliberately naive re-statements of SPEC's formulas, used only to cross-check the engine's modules.

Loops, explicit masks and weight norm applied on the fly from the raw checkpoint tensors: slow, but
written straight from the text of SPEC so a structural mistake in the fast modules shows up as a mismatch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def wn(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    g, v = state[name + ".weight_g"], state[name + ".weight_v"]
    return g * v / v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def vocoder(state: dict[str, torch.Tensor], mel: torch.Tensor) -> torch.Tensor:
    """mel (80, T) -> waveform (T*256,), from the raw generator.* state (weight_g/weight_v)."""
    p = "generator."
    x = F.conv1d(mel[None], wn(state, p + "conv_pre"), state[p + "conv_pre.bias"], padding=3)
    for i, (u, k) in enumerate([(8, 16), (8, 16), (2, 4), (2, 4)]):
        x = F.leaky_relu(x, 0.1)
        x = F.conv_transpose1d(x, wn(state, f"{p}ups.{i}"), state[f"{p}ups.{i}.bias"], stride=u, padding=(k - u) // 2)
        outs = []
        for j, kernel in enumerate([3, 7, 11]):
            r = f"{p}resblocks.{3 * i + j}"
            y = x
            for m, d in enumerate([1, 3, 5]):
                t = F.conv1d(F.leaky_relu(y, 0.1), wn(state, f"{r}.convs1.{m}"), state[f"{r}.convs1.{m}.bias"],
                             dilation=d, padding=(kernel * d - d) // 2)
                t = F.conv1d(F.leaky_relu(t, 0.1), wn(state, f"{r}.convs2.{m}"), state[f"{r}.convs2.{m}.bias"],
                             padding=(kernel - 1) // 2)
                y = y + t
            outs.append(y)
        x = sum(outs) / 3
    x = F.conv1d(F.leaky_relu(x, 0.01), wn(state, p + "conv_post"), state[p + "conv_post.bias"], padding=3)
    return torch.tanh(x)[0, 0]


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-12) * w + b


def _attention(s: dict[str, torch.Tensor], p: str, x: torch.Tensor, heads: int) -> torch.Tensor:
    t, d = x.shape
    dk = d // heads
    q = (x @ s[p + "linear_q.weight"].T + s[p + "linear_q.bias"]).view(t, heads, dk).transpose(0, 1)
    k = (x @ s[p + "linear_k.weight"].T + s[p + "linear_k.bias"]).view(t, heads, dk).transpose(0, 1)
    v = (x @ s[p + "linear_v.weight"].T + s[p + "linear_v.bias"]).view(t, heads, dk).transpose(0, 1)
    scores = q @ k.transpose(1, 2) / math.sqrt(dk)
    ctx = torch.softmax(scores, dim=-1) @ v
    return ctx.transpose(0, 1).reshape(t, d) @ s[p + "linear_out.weight"].T + s[p + "linear_out.bias"]


def _stack(s: dict[str, torch.Tensor], p: str, x: torch.Tensor, layers: int, heads: int) -> torch.Tensor:
    t, d = x.shape
    pe = torch.zeros(t, d)
    for pos in range(t):
        for i in range(0, d, 2):
            angle = pos / (10000 ** (i / d))
            pe[pos, i] = math.sin(angle)
            pe[pos, i + 1] = math.cos(angle)
    x = x + s[p + "embed.0.alpha"] * pe
    for n in range(layers):
        b = f"{p}encoders.{n}."
        x = x + _attention(s, b + "self_attn.", _layer_norm(x, s[b + "norm1.weight"], s[b + "norm1.bias"]), heads)
        h = _layer_norm(x, s[b + "norm2.weight"], s[b + "norm2.bias"])
        h = F.conv1d(h.T[None], s[b + "feed_forward.w_1.weight"], s[b + "feed_forward.w_1.bias"], padding=1)
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        h = F.conv1d(h, s[b + "feed_forward.w_2.weight"], s[b + "feed_forward.w_2.bias"], padding=1)
        x = x + h[0].T
    return _layer_norm(x, s[p + "after_norm.weight"], s[p + "after_norm.bias"])


def _predictor(s: dict[str, torch.Tensor], p: str, x: torch.Tensor, layers: int) -> torch.Tensor:
    for n in range(layers):
        h = F.conv1d(x.T[None], s[f"{p}conv.{n}.0.weight"], s[f"{p}conv.{n}.0.bias"], padding=1)
        x = _layer_norm(torch.relu(h[0].T), s[f"{p}conv.{n}.2.weight"], s[f"{p}conv.{n}.2.bias"])
    return (x @ s[p + "linear.weight"].T + s[p + "linear.bias"])[:, 0]


def acoustic(
    state: dict[str, torch.Tensor], ids: list[int], speaker: int, style: torch.Tensor, content: torch.Tensor, heads: int
) -> torch.Tensor:
    """One item, upstream-style (no batching, no masks): frames (T, 80) from the raw am.* state."""
    s = {k[3:]: v for k, v in state.items() if k.startswith("am.")}
    layers = len({k.split(".")[2] for k in s if k.startswith("encoder.encoders.")})
    x = s["src_word_emb.weight"][torch.tensor(ids)]
    x = _stack(s, "encoder.", x, layers, heads)
    n = x.shape[0]
    cond = torch.cat([s["spk_tokenizer.weight"][speaker], style, content])
    x = torch.cat([x, cond.expand(n, -1)], dim=1) @ s["embed_projection1.weight"].T + s["embed_projection1.bias"]
    pitch = _predictor(s, "pitch_predictor.", x, 3)
    energy = _predictor(s, "energy_predictor.", x, 2)
    log_d = _predictor(s, "duration_predictor.", x, 2)
    d = torch.clamp(torch.round(torch.exp(log_d) - 1), min=0)
    x = x + F.conv1d(pitch[None, None], s["pitch_embed.0.weight"], s["pitch_embed.0.bias"], padding=4)[0].T
    x = x + F.conv1d(energy[None, None], s["energy_embed.0.weight"], s["energy_embed.0.bias"], padding=4)[0].T
    if d.sum() == 0:
        d = torch.ones_like(d)
    total = int(d.sum())
    centres = torch.cumsum(d, 0) - d / 2
    frames = torch.zeros(total, x.shape[1])
    for t in range(total):
        w = torch.softmax(-0.1 * (t - centres) ** 2, dim=0)
        frames[t] = w @ x
    y = _stack(s, "decoder.", frames, layers, heads)
    return y @ s["to_mel.weight"].T + s["to_mel.bias"]


def bert_pooler(state: dict[str, torch.Tensor], ids: list[int], heads: int) -> torch.Tensor:
    """HF-style BERT pooler output for one unpadded sequence, from the raw module.bert.* state."""
    s = {k[len("module.bert."):]: v for k, v in state.items() if k.startswith("module.bert.")}
    t = len(ids)
    x = s["embeddings.word_embeddings.weight"][torch.tensor(ids)] + s["embeddings.position_embeddings.weight"][:t]
    x = x + s["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, s["embeddings.LayerNorm.weight"], s["embeddings.LayerNorm.bias"])
    layers = len({k.split(".")[2] for k in s if k.startswith("encoder.layer.")})
    for n in range(layers):
        p = f"encoder.layer.{n}."
        d = x.shape[1]
        dk = d // heads
        q = (x @ s[p + "attention.self.query.weight"].T + s[p + "attention.self.query.bias"]).view(t, heads, dk).transpose(0, 1)
        k = (x @ s[p + "attention.self.key.weight"].T + s[p + "attention.self.key.bias"]).view(t, heads, dk).transpose(0, 1)
        v = (x @ s[p + "attention.self.value.weight"].T + s[p + "attention.self.value.bias"]).view(t, heads, dk).transpose(0, 1)
        ctx = (torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dk), -1) @ v).transpose(0, 1).reshape(t, d)
        a = ctx @ s[p + "attention.output.dense.weight"].T + s[p + "attention.output.dense.bias"]
        x = _layer_norm(a + x, s[p + "attention.output.LayerNorm.weight"], s[p + "attention.output.LayerNorm.bias"])
        h = x @ s[p + "intermediate.dense.weight"].T + s[p + "intermediate.dense.bias"]
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        o = h @ s[p + "output.dense.weight"].T + s[p + "output.dense.bias"]
        x = _layer_norm(o + x, s[p + "output.LayerNorm.weight"], s[p + "output.LayerNorm.bias"])
    return torch.tanh(x[0] @ s["pooler.dense.weight"].T + s["pooler.dense.bias"])

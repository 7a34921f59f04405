"""HiFi-GAN V1 generator ("generator.*" in the joint checkpoint), inference only, with plain convolutions.

The checkpoint stores weight-normalised convolutions (``weight_g``/``weight_v`` or
``parametrizations.weight.original0/1``); :func:`fold_weight_norm` turns each pair into one plain weight
at load time, so inference never recomputes the norm. 256 output samples per input frame at 16 kHz.
The snapshot build traces this very ``Vocoder`` (a fixed stack of convolutions, no control flow).
Owns the vocoder's arithmetic; imports only torch (never the loader, the engine, the snapshot runtime or
``snapshot/``, the build step).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class VocoderConfig:
    n_mels: int = 80
    initial_channels: int = 512
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernels: tuple[int, ...] = (16, 16, 4, 4)
    resblock_kernels: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))

    @property
    def hop(self) -> int:
        out = 1
        for rate in self.upsample_rates:
            out *= rate
        return out


class _ResBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=(kernel * d - d) // 2) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place where the tensor is our own (never the caller's x, shared by the three resblocks):
        # fewer multi-megabyte allocations per second of audio, same arithmetic.
        for c1, c2 in zip(self.convs1, self.convs2):
            y = c1(F.leaky_relu(x, 0.1))
            x = c2(F.leaky_relu_(y, 0.1)).add_(x)
        return x


class Vocoder(nn.Module):
    def __init__(self, cfg: VocoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.conv_pre = nn.Conv1d(cfg.n_mels, cfg.initial_channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = cfg.initial_channels
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernels):
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2))
            channels //= 2
            for k, dilations in zip(cfg.resblock_kernels, cfg.resblock_dilations):
                self.resblocks.append(_ResBlock(channels, k, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, T) frames -> (B, T * hop) waveform in [-1, 1]."""
        x = self.conv_pre(mel.to(self.conv_pre.weight.dtype))
        n = len(self.config.resblock_kernels)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu_(x, 0.1) if i else F.leaky_relu(x, 0.1))
            acc = self.resblocks[i * n](x)
            for j in range(1, n):
                acc = acc.add_(self.resblocks[i * n + j](x))
            x = acc.div_(n)
        x = self.conv_post(F.leaky_relu_(x))
        return torch.tanh(x.float())[:, 0]


# "<base>.weight_g" / "<base>.parametrizations.weight.original1"; base keeps its trailing dot (may be empty).
_WEIGHT_NORM_KEY = re.compile(r"^(.*?)(weight_g|weight_v|parametrizations\.weight\.original[01])$")


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every weight-norm pair by its plain weight ``g * v / ||v||`` (norm over all dims but 0).

    Accepts both key styles: ``<name>.weight_g``/``<name>.weight_v`` (torch's old ``weight_norm``) and
    ``<name>.parametrizations.weight.original0``/``original1`` (the parametrization API).
    """
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _WEIGHT_NORM_KEY.match(key)
        if match is None:
            out[key] = value
            continue
        base, suffix = match.group(1), match.group(2)
        role = "g" if suffix in ("weight_g", "parametrizations.weight.original0") else "v"
        pairs.setdefault(base, {})[role] = value
    for base, pair in pairs.items():
        if "g" not in pair or "v" not in pair:
            missing = "weight_g (original0)" if "g" not in pair else "weight_v (original1)"
            raise KeyError(f"{base}{missing}")
        g, v = pair["g"].float(), pair["v"].float()
        dims = tuple(range(1, v.dim()))
        norm = torch.linalg.vector_norm(v, dim=dims, keepdim=True)
        out[base + "weight"] = g * v / norm
    return out

"""Small building blocks of the end-to-end codecs' networks."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ChannelDecoder", "ChannelEncoder", "ResBlock", "awgn", "conv_bn_relu"]


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class ResBlock(nn.Module):
    """Two 3x3 conv-BN-ReLU layers and an identity shortcut (DT-JSCC's Resblock)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels),
                                  nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class ChannelEncoder(nn.Sequential):
    """Paper 002 Table I, channel encoder: Linear 128 + ReLU, Linear ``values``; then tanh.

    The paper states no power constraint on its 16 values; the ``analog`` payload needs
    |v| <= 1 (peak power 1, the Es/N0 of PSK), which the tanh gives, as in DeepJSCC.
    """

    def __init__(self, features: int, values: int = 16, hidden: int = 128) -> None:
        super().__init__(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, values),
                         nn.Tanh())


class ChannelDecoder(nn.Module):
    """Paper 002 Table I, channel decoder: L1 = Linear 16 + ReLU, L2 = Linear 128 + ReLU,
    L3 = Linear 16, out = LayerNorm(L1 + L3) (a residual over L2-L3)."""

    def __init__(self, values: int = 16, hidden: int = 128) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(values, values), nn.ReLU())
        self.l23 = nn.Sequential(nn.Linear(values, hidden), nn.ReLU(), nn.Linear(hidden, values))
        self.norm = nn.LayerNorm(values)

    def forward(self, y: Tensor) -> Tensor:
        h = self.l1(y)
        return self.norm(h + self.l23(h))


def awgn(v: Tensor, noise_var: Tensor | float,
         generator: torch.Generator | None = None) -> Tensor:
    """``v`` plus real Gaussian noise of variance ``noise_var`` per value (per image if a
    tensor of N): what the analog payload leaves of a value at Es/N0 = 1 / noise_var."""
    nv = noise_var.view(-1, 1) if isinstance(noise_var, Tensor) else float(noise_var)
    noise = torch.randn(v.shape, generator=generator, device=v.device)
    return v + noise * (nv ** 0.5 if not isinstance(nv, Tensor) else nv.sqrt())

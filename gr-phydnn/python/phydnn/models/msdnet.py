"""A small multi-scale dense network with exits (MSDNet, Huang et al., ICLR 2018; the dynamic
task-oriented encoder of paper 002, Fig. 3 and Eq. 7-10), built so that an image can really
stop at an exit: the network is a list of *blocks*, each a few layers, and the caller runs
block k only on the images still in the batch.

    x -> stem: scale 1 (H/2, c1) and scale 2 (H/4, c2)
      -> block 1 .. block K, each of ``layers`` dense layers over both scales:
         scale 1 gains h_1(x_1) (growth g1), scale 2 gains [h_2(x_2), h~_2(x_1)] (growth g2:
         half from its own scale, half strided down from the finer one), concatenated onto
         what the scale already holds (dense connectivity, paper 002 Eq. 8-9)
      -> after block k: exit k reads scale 2 (the coarse, classifier-ready features:
         Eq. 10): 1x1 conv, BN, ReLU, global average pooling -> ``exit_features`` values

The horizontal direction (depth) and the vertical one (scale) are those of Fig. 3 (a);
with two scales instead of MSDNet's three (28x28 inputs are small). Each h is a bottleneck
(1x1 conv to 4 g, then 3x3 conv to g), as in MSDNet.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from phydnn.errors import check_positive

__all__ = ["MSDNet"]

Scales = tuple[Tensor, Tensor]


def _bottleneck(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    mid = min(cin, 4 * cout)
    return nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                         nn.Conv2d(mid, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class _DenseLayer(nn.Module):
    """One layer across both scales (Eq. 8-9): new features concatenated onto the old."""

    def __init__(self, c1: int, c2: int, g1: int, g2: int) -> None:
        super().__init__()
        self.fine = _bottleneck(c1, g1)
        self.coarse = _bottleneck(c2, g2 // 2)
        self.down = _bottleneck(c1, g2 - g2 // 2, stride=2)

    def forward(self, xs: Scales) -> Scales:
        x1, x2 = xs
        return (torch.cat([x1, self.fine(x1)], 1),
                torch.cat([x2, self.coarse(x2), self.down(x1)], 1))


class _Block(nn.Sequential):
    def forward(self, xs: Scales) -> Scales:   # type: ignore[override]
        for layer in self:
            xs = layer(xs)
        return xs


class _ExitFeatures(nn.Sequential):
    """1x1 conv on the coarse scale, BN, ReLU, global average pooling: (N, features)."""

    def __init__(self, cin: int, features: int) -> None:
        super().__init__(nn.Conv2d(cin, features, 1, bias=False), nn.BatchNorm2d(features),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


class _Stem(nn.Module):
    def __init__(self, in_channels: int, c1: int, c2: int) -> None:
        super().__init__()
        self.fine = nn.Sequential(nn.Conv2d(in_channels, c1, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(c1), nn.ReLU())
        self.coarse = nn.Sequential(nn.Conv2d(c1, c2, 3, 2, 1, bias=False),
                                    nn.BatchNorm2d(c2), nn.ReLU())

    def forward(self, x: Tensor) -> Scales:
        x1 = self.fine(x)
        return x1, self.coarse(x1)


class MSDNet(nn.Module):
    """One block per exit, block k of ``layers[k]`` dense layers (fewer in later blocks,
    whose layers are wider, so that the exits' cumulative MACs grow roughly evenly).
    :meth:`stem`, :attr:`blocks` and :attr:`exits` are run one by one by the caller (real
    early exit); :meth:`forward` runs them all and returns every exit's features
    (training)."""

    def __init__(self, in_channels: int = 1, layers: tuple[int, ...] = (3, 3, 3, 3, 3),
                 c1: int = 16, c2: int = 32, g1: int = 8, g2: int = 16,
                 features: int = 64) -> None:
        super().__init__()
        for name, v in (("c1", c1), ("c2", c2), ("g1", g1), ("g2", g2),
                        ("features", features), *(("layers", n) for n in layers)):
            check_positive(name, v, integer=True)
        self.stem = _Stem(in_channels, c1, c2)
        blocks, heads = [], []
        for n_layers in layers:
            block = []
            for _ in range(n_layers):
                block.append(_DenseLayer(c1, c2, g1, g2))
                c1, c2 = c1 + g1, c2 + g2
            blocks.append(_Block(*block))
            heads.append(_ExitFeatures(c2, features))
        self.blocks, self.exits = nn.ModuleList(blocks), nn.ModuleList(heads)
        self.features = int(features)

    def forward(self, x: Tensor) -> list[Tensor]:
        xs, out = self.stem(x), []
        for block, head in zip(self.blocks, self.exits, strict=True):
            xs = block(xs)
            out.append(head(xs[1]))
        return out

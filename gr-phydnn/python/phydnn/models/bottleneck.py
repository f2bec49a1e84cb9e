"""BottleFit-style bottleneck split: the full-stack baseline of paper 003 Sec. IV-B.

BottleFit (Matsubara et al., WoWMoM 2022; ref. [22] of paper 003) injects a bottleneck at the
split point and recovers the accuracy with a two-stage training (see
:mod:`phydnn.training.bottlefit`). As paper 003 does for its BF-1 / BF-2 baselines, the last
convolution of the first ResNet stage is narrowed to ``width`` channels (1 or 2): the head
ends with that narrow layer and sends its float32 output over TCP/IP; the tail starts with a
decoder that widens it back to the stage's channel count and then runs the rest of the
pretrained backbone.

The residual connection of the narrowed block cannot cross the split (it would send the wide
input), so the encoder is that block's first conv + BN + ReLU followed by the narrow conv + BN
(initialised from the pretrained block where the shapes allow), and the decoder is two 3x3
conv + BN + ReLU layers. No GNU Radio here.
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

from phydnn.errors import ConfigError, check_positive
from phydnn.models.resnet import BasicBlock, CifarResNet

__all__ = ["BottleneckSplit"]


class Encoder(nn.Module):
    """The narrowed last block of the head: conv-BN-ReLU (pretrained) -> conv-BN to width."""

    def __init__(self, block: BasicBlock, width: int) -> None:
        super().__init__()
        planes = block.conv1.out_channels
        self.conv1, self.bn1 = block.conv1, block.bn1
        self.conv2 = nn.Conv2d(planes, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        nn.init.kaiming_normal_(self.conv2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))


class Decoder(nn.Sequential):
    """Width -> the stage's channels again: two 3x3 conv + BN + ReLU layers (in the tail)."""

    def __init__(self, width: int, planes: int) -> None:
        super().__init__(nn.Conv2d(width, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes),
                         nn.ReLU(), nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(planes), nn.ReLU())
        for m in self:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)


class BottleneckSplit(nn.Module):
    """A copy of ``backbone`` split at ``split`` with a ``width``-channel bottleneck.

    ``head(x)`` is what the mobile device computes and sends (float32, ``width`` x H' x W'
    per image); ``tail(z)`` the edge server's part; ``forward = tail(head(x))``.
    """

    def __init__(self, backbone: CifarResNet, width: int, split: str = "stage1") -> None:
        super().__init__()
        check_positive("width", width, integer=True)
        head, tail = copy.deepcopy(backbone).split(split)
        last = head[-1]
        if not isinstance(last, BasicBlock):
            raise ConfigError(f"split={split!r} is not allowed for a bottleneck; it must end "
                              f"after a residual block (e.g. stage1, stage2)")
        self.width, self.split = int(width), split
        self.planes = last.conv2.out_channels
        self.head = nn.Sequential(*head[:-1], Encoder(last, self.width))
        self.tail = nn.Sequential(Decoder(self.width, self.planes), *tail)

    def frozen_prefix(self) -> nn.Sequential:
        """The head's pretrained units before the encoder (kept frozen in stage 1)."""
        return self.head[:-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.head(x))

"""Small building blocks of the end-to-end codecs' networks."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ResBlock", "conv_bn_relu"]


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

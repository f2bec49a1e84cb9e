"""CIFAR-style ResNets (He et al., "Deep Residual Learning", Sec. 4.2) with named split points.

depth = 6n + 2: a 3x3 stem with 16 filters, three stages of n basic blocks with 16/32/64 filters
(the first block of stages 2 and 3 halves the resolution), global average pooling and a linear
classifier. Shortcuts are option A (identity with stride-2 subsampling and zero-padded channels),
so ResNet-20 has about 0.27 M parameters as in the original paper. Any number of input channels
and classes.

The network is kept as a flat sequence of *units* (stem, every block, classifier); a split point
names the unit after which the head ends, so head and tail are slices of the same modules and
tail(head(x)) performs exactly the operations of the full forward pass (bit for bit).

Split points of a depth-(6n+2) ResNet::

    stem            after the 3x3 stem conv + BN + ReLU
    stage1.block0 .. stage1.block{n-1}   after each block of stage 1 (likewise stage2/stage3)
    stage1, stage2  after the whole stage (aliases of the stage's last block)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.errors import ConfigError, check_choice, check_positive
from phydnn.models.registry import register_backbone

__all__ = ["BasicBlock", "CifarResNet", "RESNET_DEPTHS"]

RESNET_DEPTHS = (20, 32, 44, 56, 110)
STAGE_WIDTHS = (16, 32, 64)


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample spatially by ``stride`` and zero-pad the new channels."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = planes - in_planes

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection: relu(F(x) + shortcut(x))."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        needs_shortcut = stride != 1 or in_planes != planes
        self.shortcut: nn.Module = ShortcutA(in_planes, planes, stride) if needs_shortcut \
            else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Stem(nn.Sequential):
    """3x3 conv (16 filters) + BN + ReLU at full resolution."""

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__(nn.Conv2d(in_channels, planes, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(planes), nn.ReLU(inplace=False))


class Classifier(nn.Module):
    """Global average pooling + linear layer -> logits."""

    def __init__(self, planes: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(dim=(2, 3)))


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2) kept as named units so that any split point gives a head and a tail."""

    def __init__(self, depth: int = 20, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        check_choice("depth", depth, RESNET_DEPTHS)
        check_positive("in_channels", in_channels, integer=True)
        check_positive("num_classes", num_classes, integer=True)
        self.depth, self.in_channels, self.num_classes = depth, in_channels, num_classes
        n = (depth - 2) // 6
        units: dict[str, nn.Module] = {"stem": Stem(in_channels, STAGE_WIDTHS[0])}
        in_planes = STAGE_WIDTHS[0]
        for s, planes in enumerate(STAGE_WIDTHS, start=1):
            for b in range(n):
                stride = 2 if (s > 1 and b == 0) else 1
                units[f"stage{s}.block{b}"] = BasicBlock(in_planes, planes, stride)
                in_planes = planes
        units["classifier"] = Classifier(in_planes, num_classes)
        self.units = nn.ModuleDict({k.replace(".", "_"): v for k, v in units.items()})
        self.unit_names = list(units)
        self._blocks_per_stage = n
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    @property
    def split_points(self) -> list[str]:
        """Every allowed split point name, in network order (stage aliases included)."""
        names = self.unit_names[:-1]
        aliases = [f"stage{s}" for s in (1, 2)]
        return names + aliases

    def resolve_split(self, split: str) -> int:
        """Index of the first tail unit for split point ``split``."""
        check_choice("split", split, self.split_points)
        if split.startswith("stage") and "." not in split:
            split = f"{split}.block{self._blocks_per_stage - 1}"
        return self.unit_names.index(split) + 1

    def split(self, split: str) -> tuple[nn.Sequential, nn.Sequential]:
        """Head and tail as ``nn.Sequential`` views sharing this model's modules."""
        k = self.resolve_split(split)
        mods = list(self.units.values())
        return nn.Sequential(*mods[:k]), nn.Sequential(*mods[k:])

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(f"input must have shape (N, {self.in_channels}, H, W), "
                              f"got {tuple(x.shape)}")
        for unit in self.units.values():
            x = unit(x)
        return x

    def extra_repr(self) -> str:
        return (f"depth={self.depth}, in_channels={self.in_channels}, "
                f"num_classes={self.num_classes}")


def _make(depth: int):
    def build(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
        return CifarResNet(depth, in_channels, num_classes)
    build.__doc__ = f"CIFAR ResNet-{depth}."
    return build


for _d in RESNET_DEPTHS:
    register_backbone(f"resnet{_d}")(_make(_d))

"""The static task-oriented encoder of paper 002 (Fu, Xiao, Ren, Skoglund, Sec. III-B): a
CIFAR-style ResNet as the task-oriented encoder, the channel encoder and decoder of Table I
and a classifier, trained jointly with cross-entropy (Eq. 5; no information bottleneck).

    x -> ResNet-(6n+2) without its classifier -> global average pooling (64)   (device)
      -> channel encoder (Table I: Linear 128 + ReLU, Linear 16) -> tanh: 16 values
    ~ analog payload: two values per complex symbol, peak power 1 (Eq. 3, h = 1) ~>
    y -> channel decoder (Table I: L1 16 + ReLU, L2 128 + ReLU, L3 16, LayerNorm(L1 + L3))
      -> Linear -> logits                                                      (server)

``phydnn train-codec --codec toc --init models/fmnist_resnet20`` starts the ResNet from a
pretrained backbone bundle (:meth:`TOCCodec.initialise`) and fine-tunes everything with the
channel in the graph. The paper states no power constraint on the 16 values; the tanh puts
them in [-1, 1], the analog payload's peak power 1.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.codecs.e2e import AnalogClassifier, EndToEndCodec
from phydnn.codecs.layers import ChannelDecoder, ChannelEncoder, awgn
from phydnn.codecs.registry import register_codec
from phydnn.errors import CheckpointError
from phydnn.models.resnet import CifarResNet

__all__ = ["TOCCodec", "TOCNet"]


class _Pool(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


class TOCNet(AnalogClassifier, nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, depth: int = 20,
                 values: int = 16, pilot_spacing: int = 16) -> None:
        super().__init__()
        resnet = CifarResNet(depth, in_channels, num_classes)
        units = list(resnet.units.values())[:-1]
        self.encoder = nn.Sequential(nn.Sequential(*units), _Pool(),
                                     ChannelEncoder(units[-1].bn2.num_features, values))
        self.decoder = nn.Sequential(ChannelDecoder(values), nn.Linear(values, num_classes))
        self.values, self.pilot_spacing = int(values), int(pilot_spacing)

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Tensor]:
        v = self.encoder(x)
        y = awgn(v, noise_var)
        return {"logits": self.decoder(y), "regulariser": torch.zeros((), device=x.device),
                "symbol_errors": F.mse_loss(y, v).detach()}


@register_codec("toc", codec_id=7)
class TOCCodec(EndToEndCodec):
    """The static encoder of paper 002 (ResNet + Table I)."""

    card_snrs = (0.0, 6.0, 12.0, 18.0)

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"depth": 20, "values": 16, "pilot_spacing": 16}

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape) -> TOCNet:
        a = {**cls.default_arch(), **arch}
        return TOCNet(in_channels, num_classes, int(a["depth"]), int(a["values"]),
                      int(a["pilot_spacing"]))

    @classmethod
    def initialise(cls, net: TOCNet, bundle: str) -> None:
        """The ResNet's weights (all but its classifier) from a backbone bundle."""
        from phydnn.models.bundle import load_backbone
        resnet, card = load_backbone(bundle)
        units = list(resnet.units.values())[:-1]
        ours = net.encoder[0]
        if len(units) != len(ours) or int(card["in_channels"]) != ours[0][0].in_channels:
            raise CheckpointError(f"{bundle}: a {card['backbone']} with "
                                  f"{card['in_channels']} input channels does not fit this "
                                  f"encoder (arch depth, the dataset's channels)")
        ours.load_state_dict(nn.Sequential(*units).state_dict())

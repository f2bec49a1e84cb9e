"""A DeepJSCC-style classifier (the analog baseline of paper 000, Sec. V: "the same network
trained with cross-entropy only, analog output") as the reference codec of the ``analog``
payload kind.

    x -> conv s2 -> conv s2 -> linear -> tanh: L real values in [-1, 1]   (encoder, device)
    ~ two values per complex symbol, peak power 1, pilots ~>
    received values (erased: 0) -> linear -> ReLU -> linear -> logits      (decoder, server)

The tanh bounds each value to [-1, 1]; the link puts values 2i and 2i+1 on one symbol
(v_2i + j v_2i+1) / sqrt(2), so the peak power is 1 and Es/N0 has the PSK definition. A
received real value then carries noise of variance sigma^2 = 10^(-Es/N0 / 10), the complex
noise variance per symbol (each of its parts holds sigma^2 / 2, scaled back by sqrt(2)):
that is the channel of training, one draw of Es/N0 per image.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.codecs.e2e import AnalogClassifier, EndToEndCodec
from phydnn.codecs.layers import awgn, conv_bn_relu
from phydnn.codecs.registry import register_codec

__all__ = ["DeepJSCC", "DeepJSCCCodec"]


class DeepJSCC(AnalogClassifier, nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 values: int = 32, hidden: int = 256, pilot_spacing: int = 16,
                 input_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        self.values, self.pilot_spacing = int(values), int(pilot_spacing)
        convs = nn.Sequential(conv_bn_relu(in_channels, width, 2),
                              conv_bn_relu(width, 2 * width, 2), nn.Flatten())
        with torch.no_grad():
            flat = convs.eval()(torch.zeros(1, *input_shape)).shape[1]
        self.encoder = nn.Sequential(convs, nn.Linear(flat, self.values), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(self.values, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Tensor]:
        v = self.encoder(x)
        y = awgn(v, noise_var)
        logits = self.decoder(y)
        return {"logits": logits, "regulariser": torch.zeros((), device=x.device),
                "symbol_errors": F.mse_loss(y, v).detach()}


@register_codec("deepjscc", codec_id=3)
class DeepJSCCCodec(EndToEndCodec):
    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"width": 16, "values": 32, "hidden": 256, "pilot_spacing": 16}

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape) -> DeepJSCC:
        a = {**cls.default_arch(), **arch}
        return DeepJSCC(in_channels, num_classes, int(a["width"]), int(a["values"]),
                        int(a["hidden"]), int(a["pilot_spacing"]), tuple(input_shape))

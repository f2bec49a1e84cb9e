"""DT-JSCC (Xie et al., "Robust information bottleneck for task-oriented communication with
digital modulation", JSAC 2023; reference [10] of paper 003) as a codec: ``psk`` payload.

An encoder designed and trained from scratch (not a pretrained backbone), a learned discrete
codebook whose index goes on air as an M-PSK point, and a decoder/classifier of its own::

    x -> conv -> conv, pool -> ResBlock -> conv, pool -> conv, pool -> ResBlock
      -> C latent maps of h x w = d values each                       (encoder, the device)
      -> each map's nearest of K codewords (K x d) -> index k -> PSK point k
    ~ channel ~> nearest point (hard) or posterior (soft) -> codeword(s) -> C maps
      -> ResBlock -> global pool -> linear -> class logits            (decoder, the server)

Paper 003 (Sec. IV, "DT-JSCC") describes the CIFAR-10 encoder as 4 convolutional layers and 2
residual blocks with 512 latent feature maps and a quantiser. Scaled to 28 x 28 grayscale
here: widths 16/32/64 and C = 256 latent maps of 3 x 3 (three 2x poolings: 28 -> 14 -> 7 -> 3),
K = 16 codewords on 16-PSK, so 256 symbols (128 bytes) per image. The index k goes on point k
(the codebook learns its own geometry on the constellation, as in DT-JSCC). For many more maps
(784, the default PhyDNN's channel uses) the residual blocks around the latent stay ``mix``
channels wide, with a 1 x 1 convolution to the C maps on the device and back on the server:
784-wide blocks would hold 45 MB of weights for the same role (our scaling, not Xie et al.'s;
``mix`` = 0 keeps them C wide, as at 256 and 196 maps).

Training (:mod:`phydnn.training.codec_train`): straight-through Gumbel-softmax over the
codewords (scores: negative squared distances), 16-PSK, AWGN at a per-image Es/N0 drawn
uniformly from a range, the receiver's hard decision with straight-through gradients of the
posterior, cross-entropy plus ``beta`` times KL(p(z|x) || uniform) per latent map. The KL to
the uniform prior is our reading of the robust information bottleneck's regulariser (it
spends the codewords evenly, the redundancy that paper 003 says DT-JSCC maximises); we did
not have Xie et al.'s equations at hand, so this is the intent, not their exact objective.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.codecs.base import PayloadSpec
from phydnn.codecs.e2e import EndToEndCodec, state_fingerprint
from phydnn.codecs.layers import ResBlock, conv_bn_relu
from phydnn.codecs.registry import register_codec
from phydnn.models.assignment import fingerprint
from phydnn.phy import PSKConstellation, add_awgn

__all__ = ["DTJSCC", "DTJSCCCodec"]


def _projection(c_in: int, c_out: int, relu: bool = False) -> list[nn.Module]:
    """A 1 x 1 convolution between the residual blocks' width and the latent maps, or
    nothing where the two are equal (the models at 256 and 196 maps)."""
    if c_in == c_out:
        return []
    if relu:
        return [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return [nn.Conv2d(c_in, c_out, 1)]


class DTJSCC(nn.Module):
    """Encoder, codebook (``codebook.weight``: K x d, on the TX and the RX), decoder."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 latent: int = 256, order: int = 16,
                 input_shape: tuple[int, int, int] = (1, 28, 28), mix: int = 0) -> None:
        super().__init__()
        w, mix = int(width), int(mix) or int(latent)
        self.encoder = nn.Sequential(
            conv_bn_relu(in_channels, w), conv_bn_relu(w, 2 * w), nn.MaxPool2d(2),
            ResBlock(2 * w), conv_bn_relu(2 * w, 4 * w), nn.MaxPool2d(2),
            conv_bn_relu(4 * w, mix), nn.MaxPool2d(2), ResBlock(mix),
            *_projection(mix, latent))
        with torch.no_grad():
            shape = self.encoder.eval()(torch.zeros(1, *input_shape)).shape
        self.latent_shape = tuple(int(v) for v in shape[1:])       # (C, h, w)
        d = self.latent_shape[1] * self.latent_shape[2]
        self.codebook = nn.Embedding(int(order), d)
        nn.init.normal_(self.codebook.weight, 0.0, 1.0)
        self.decoder = nn.Sequential(*_projection(latent, mix, relu=True), ResBlock(mix),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(mix, num_classes))
        self.constellation = PSKConstellation(int(order))

    # the codebook is on both sides: the TX picks from it, the RX looks it up
    @property
    def order(self) -> int:
        return int(self.codebook.num_embeddings)

    @property
    def values(self) -> int:
        """Symbols per image: one per latent map."""
        return self.latent_shape[0]

    def payload_spec(self) -> PayloadSpec:
        return PayloadSpec("psk", int(math.log2(self.order))).check()

    def scores(self, x: Tensor) -> Tensor:
        """Negative squared distance of every latent map to every codeword (N, C, K)."""
        z = self.encoder(x).flatten(2)
        e = self.codebook.weight
        return 2 * z @ e.t() - e.square().sum(1) - z.square().sum(-1, keepdim=True)

    @torch.no_grad()
    def transmit(self, x: Tensor) -> Tensor:
        """Point indices (N, C) uint8: the nearest codeword of each latent map."""
        return self.scores(x).argmax(-1).to(torch.uint8)

    def _maps(self, weights: Tensor) -> Tensor:
        """Codeword weights (N, C, K) -> latent maps (N, C, h, w)."""
        return (weights @ self.codebook.weight).view(len(weights), *self.latent_shape)

    def receive(self, symbols: Tensor, noise_var: Tensor, erased: Tensor,
                receiver: str) -> Tensor:
        """Class logits from received symbols (N, C): nearest point (hard) or posterior
        (soft) weights over the codewords; erased positions (symbol 0, noise variance 1: the
        link's convention) take the mean codeword."""
        if receiver == "hard":
            w = F.one_hot(self.constellation.demodulate_hard(symbols), self.order).float()
        else:
            w = self.constellation.demodulate_soft(symbols, noise_var)
        w = torch.where(erased.unsqueeze(-1), torch.full_like(w, 1.0 / self.order), w)
        return self.decoder(self._maps(w))

    def simulate(self, x: Tensor, noise_var: float, receiver: str,
                 generator: torch.Generator | None = None) -> Tensor:
        sym = self.constellation.modulate(self.transmit(x).long())
        y = add_awgn(sym, noise_var, generator)
        nv = torch.full(y.shape, float(noise_var))
        return self.receive(y, nv, torch.zeros(y.shape, dtype=torch.bool), receiver)

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Tensor]:
        """Training: Gumbel-softmax codeword choice, PSK, AWGN (noise_var per image),
        straight-through hard decision; regulariser = mean KL(p(z|x) || uniform)."""
        s = self.scores(x)
        log_p = F.log_softmax(s, -1)
        kl = (log_p.exp() * log_p).sum(-1).mean() + math.log(self.order)
        onehot = F.gumbel_softmax(s, tau=tau, hard=True)
        nv = noise_var.view(-1, 1)
        y = add_awgn(self.constellation.modulate_onehot(onehot), nv)
        post = self.constellation.demodulate_soft(y, nv)
        hard = F.one_hot(post.argmax(-1), self.order).to(post.dtype)
        logits = self.decoder(self._maps(hard + post - post.detach()))
        errors = (post.argmax(-1) != onehot.argmax(-1)).float().mean()
        return {"logits": logits, "regulariser": kl, "symbol_errors": errors.detach()}


@register_codec("dtjscc", codec_id=2)
class DTJSCCCodec(EndToEndCodec):
    tx_keys = ("encoder.", "codebook.")
    rx_keys = ("decoder.", "codebook.")
    receivers = ("hard", "soft")
    default_receiver = "hard"        # DT-JSCC's receiver decides the index

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"width": 16, "latent": 256, "order": 16, "mix": 0}

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape) -> DTJSCC:
        a = {**cls.default_arch(), **arch}
        return DTJSCC(in_channels, num_classes, int(a["width"]), int(a["latent"]),
                      int(a["order"]), tuple(input_shape), int(a["mix"]))

    @classmethod
    def fingerprint(cls, net: DTJSCC) -> str:
        """Hash of codebook and map (identity) and of the encoder: both sides hold the first,
        the card carries the whole."""
        enc = state_fingerprint({k: v for k, v in net.state_dict().items()
                                 if k.startswith("encoder.")})
        return fingerprint(net.codebook.weight, torch.arange(net.order))[:8] + enc[:8]

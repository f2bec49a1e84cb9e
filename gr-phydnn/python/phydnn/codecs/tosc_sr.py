"""TOSC-SR (paper 004, Liu et al.): bits from which the receiver rebuilds an *image* that keeps
what tasks need, so that any task network at the receiver can use it. ``bits`` payload.

    x -> encoder E (strided convolutions + residual blocks, sigmoid): e in [0, 1]^(K x H/4 x W/4)
      -> binariser (Eq. 18-20): z = [e > 0.5]; backward: the identity on [0, 1]
      -> K bits per latent position, fixed length (Eq. 21): 49 K bits per 28 x 28 image
    ~ Gray BPSK / QPSK, Es/N0 as everywhere in the project ~> LLRs
      -> soft bits t = tanh(LLR / 2) = E[1 - 2 z]  (hard: sign(LLR); erased: 0, "unknown")
      -> decoder D (residual blocks, depth-to-space): x_hat in [0, 1]
      -> the task network F, frozen and in eval mode: class probabilities

Training (:mod:`phydnn.training.tosc`) minimises the relaxed loss of Eq. 31,
``mse_weight * MSE(x, x_hat) + beta * CE(y, F(x_hat))`` with F frozen (Alg. 1; the text's
"jointly train" is not what the algorithm does, NOTES.md): beta = 0 is the rate-distortion
(RD) baseline, ``mse_weight`` = 0 the information-bottleneck (IB) one. The MSE is the mean
over pixels in [0, 1] (beta's scale depends on it: NOTES.md).

Where this departs from the paper, and why:
- The paper adds Gaussian noise to {0, 1} values and never defines its SNR (Table I:
  "z_hat = z + n"). Here the bits go out as Gray BPSK/QPSK (bit 0 -> +a, a = 1 or 1/sqrt 2)
  with the project's Es/N0, and the decoder gets soft bits from the exact LLRs, which for
  Gray QPSK are separable: LLR = 4 a r / sigma^2 per bit, r its quadrature
  (:func:`bit_channel`; equal to :func:`phydnn.link.payload.unmap_symbols`'s, tested).
- Table I's networks are for 96 x 96 RGB with 8x downsampling and 128-512 filters; for 28 x
  28 Fashion-MNIST (the issue) the encoder downsamples 4x to 7 x 7 and the widths are 32/64,
  so that a CPU trains it. The decoder ends in a sigmoid (pixels in [0, 1]; Table I: none).
- Segment erasures of the link are part of training: a share of the images loses a random
  run of its bits, which reach the decoder as 0 (unknown), as at the receiver.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.codecs.base import (
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
)
from phydnn.codecs.e2e import EndToEndCodec
from phydnn.codecs.registry import register_codec
from phydnn.errors import CheckpointError, ConfigError, check_choice
from phydnn.models.complexity import count_macs, count_params

__all__ = ["RECEIVERS", "TOSCNet", "TOSCSRCodec", "binarise", "bit_channel", "soft_bits"]

RECEIVERS = ("soft", "hard")
LATENT_BITS = (1, 2, 4, 8, 16)          # K of the issue


def binarise(e: Tensor) -> Tensor:
    """Eq. 18-20: forward z = 1 where e > 0.5, else 0; backward the identity (the proxy
    z~ = e on [0, 1], which the sigmoid already bounds)."""
    return e + ((e > 0.5).to(e.dtype) - e).detach()


def bit_channel(z: Tensor, noise_var: Tensor, bits_per_symbol: int,
                generator: torch.Generator | None = None) -> Tensor:
    """Bits z (N, L) in {0, 1} (differentiable) over Gray BPSK/QPSK at complex noise variance
    ``noise_var`` per symbol (N,) -> their LLRs log p(0|y)/p(1|y). Each bit rides one
    quadrature at amplitude a (1 for BPSK, 1/sqrt 2 for QPSK) with real noise of variance
    sigma^2 / 2, so LLR = 4 a r / sigma^2."""
    a = 1.0 if bits_per_symbol == 1 else 1.0 / math.sqrt(2.0)
    nv = noise_var.view(-1, 1).to(z.dtype)
    r = a * (1.0 - 2.0 * z) + torch.randn(z.shape, generator=generator) * (nv / 2).sqrt()
    return 4.0 * a * r / nv


def soft_bits(llr: Tensor, erased: Tensor | None = None, receiver: str = "soft") -> Tensor:
    """What the decoder takes for each bit: tanh(LLR / 2) = E[1 - 2 z] (soft), sign(LLR)
    (hard), 0 where erased or unknown (both)."""
    t = torch.tanh(llr / 2) if receiver == "soft" else torch.sign(llr)
    return t if erased is None else torch.where(erased, torch.zeros_like(t), t)


class _Res(nn.Module):
    """Table I's residual block: two 3x3 convolutions, ReLU between and after the sum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.c2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.c2(F.relu(self.c1(x))))


def _encoder(cin: int, k: int, width: int) -> nn.Sequential:
    """Table I's encoder at 4x: conv 5x5/2, res, conv 3x3/2, res, res, conv 3x3 to K, sigmoid."""
    w = int(width)
    return nn.Sequential(nn.Conv2d(cin, w, 5, 2, 2), nn.ReLU(), _Res(w),
                         nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(), _Res(2 * w), _Res(2 * w),
                         nn.Conv2d(2 * w, k, 3, 1, 1), nn.Sigmoid())


def _decoder(cout: int, k: int, width: int) -> nn.Sequential:
    """Table I's decoder at 4x: conv 1x1, res, res, depth-to-space 2, conv, res,
    depth-to-space 2, conv, conv to the image, sigmoid."""
    w = int(width)
    return nn.Sequential(nn.Conv2d(k, 2 * w, 1), nn.ReLU(), _Res(2 * w), _Res(2 * w),
                         nn.PixelShuffle(2), nn.Conv2d(w // 2, w, 3, 1, 1), nn.ReLU(), _Res(w),
                         nn.PixelShuffle(2), nn.Conv2d(w // 4, w, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(w, cout, 3, 1, 1), nn.Sigmoid())


class TOSCNet(nn.Module):
    """Encoder, decoder and the frozen task network F (``task``, fed x_hat normalised with
    its own statistics). ``mean``/``std``: the normalisation of the encoder's input; x in
    [0, 1] is recovered from it as the reconstruction target."""

    def __init__(self, task: nn.Module, input_shape: tuple[int, int, int],
                 latent_bits: int = 4, width: int = 32, bits_per_symbol: int = 2,
                 mean: tuple[float, ...] = (0.0,), std: tuple[float, ...] = (1.0,),
                 task_mean: tuple[float, ...] = (0.0,), task_std: tuple[float, ...] = (1.0,)
                 ) -> None:
        super().__init__()
        c, h, w = input_shape
        if h % 4 or w % 4:
            raise ConfigError(f"input shape {input_shape}: TOSC-SR downsamples 4x, so height "
                              f"and width must be multiples of 4")
        check_choice("latent_bits", int(latent_bits), LATENT_BITS)
        check_choice("bits_per_symbol", int(bits_per_symbol), (1, 2))
        if width % 4:
            raise ConfigError(f"width={width} is not allowed; it must be a multiple of 4")
        self.input_shape, self.latent_bits = tuple(input_shape), int(latent_bits)
        self.bits_per_symbol = int(bits_per_symbol)
        self.latent_shape = (self.latent_bits, h // 4, w // 4)
        self.values = int(np.prod(self.latent_shape))
        self.encoder, self.decoder = _encoder(c, latent_bits, width), _decoder(c, latent_bits,
                                                                               width)
        self.task = task.eval().requires_grad_(False)
        for name, v in (("mean", mean), ("std", std), ("task_mean", task_mean),
                        ("task_std", task_std)):
            self.register_buffer(name, torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1),
                                 persistent=False)

    def train(self, mode: bool = True) -> TOSCNet:
        """F stays in eval mode (its batch norms frozen: Alg. 1) whatever the codec's mode."""
        super().train(mode)
        self.task.eval()
        return self

    def payload_spec(self) -> PayloadSpec:
        return PayloadSpec("bits", self.bits_per_symbol).check()

    def pixels(self, x: Tensor) -> Tensor:
        """The normalised encoder input back in [0, 1]: the reconstruction's target."""
        return x * self.std + self.mean

    def classify(self, x_hat: Tensor) -> Tensor:
        """F's logits on reconstructed images in [0, 1]."""
        return self.task((x_hat - self.task_mean) / self.task_std)

    @torch.no_grad()
    def transmit(self, x: Tensor) -> Tensor:
        """Normalised images -> their bits (N, 49 K) uint8, channel-major (NCHW order)."""
        return (self.encoder(x) > 0.5).flatten(1).to(torch.uint8)

    def reconstruct(self, t: Tensor) -> Tensor:
        """Decoder input (N, 49 K) in [-1, 1] (soft bits, 0 unknown) -> x_hat in [0, 1]."""
        return self.decoder(t.view(len(t), *self.latent_shape))

    def forward(self, x: Tensor, noise_var: Tensor, erase_prob: float = 0.0,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Training pass: the channel at ``noise_var`` per image, a random run of bits erased
        in a share ``erase_prob`` of the images."""
        z = binarise(self.encoder(x)).flatten(1)
        t = soft_bits(bit_channel(z, noise_var, self.bits_per_symbol, generator),
                      _random_erasures(z.shape, erase_prob, generator))
        x_hat = self.reconstruct(t)
        return {"x_hat": x_hat, "logits": self.classify(x_hat),
                "bit_errors": ((t < 0) != (z > 0.5)).float().mean().detach()}


def _random_erasures(shape: torch.Size, prob: float,
                     generator: torch.Generator | None) -> Tensor | None:
    """(N, L) mask: in a share ``prob`` of the rows one run of random start and length,
    what a lost segment leaves of an image."""
    if prob <= 0:
        return None
    n, length = shape
    hit = torch.rand(n, generator=generator) < prob
    start = torch.randint(0, length, (n,), generator=generator)
    run = torch.randint(1, length + 1, (n,), generator=generator)
    pos = torch.arange(length).view(1, -1)
    return hit.view(-1, 1) & (pos >= start.view(-1, 1)) & (pos < (start + run).view(-1, 1))


class TOSCTransmitter(Transmitter):
    def __init__(self, net: TOSCNet, card: dict[str, Any]) -> None:
        super().__init__(card, TOSCSRCodec.payload_spec(card))
        self.net = net

    def encode_tensor(self, x: Tensor) -> TxPayload:
        return TxPayload(self.net.transmit(x).numpy(), 0)

    def graph(self) -> nn.Module:
        return _TransmitGraph(self.net.encoder)

    def complexity(self) -> tuple[int, int]:
        macs, _ = count_macs(self.net.encoder, tuple(self.card["input_shape"]))
        return count_params(self.net.encoder), macs


class _TransmitGraph(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: Tensor) -> Tensor:
        return (self.encoder(x) > 0.5).flatten(1).to(torch.uint8)


class TOSCReceiver(Receiver):
    """LLRs -> soft (or hard) bits -> x_hat -> F. ``extra['images']``: x_hat (N, C, H, W)
    float32 in [0, 1], for any other task network at the server."""

    def __init__(self, net: TOSCNet, card: dict[str, Any], receiver: str) -> None:
        super().__init__(card, TOSCSRCodec.payload_spec(card))
        self.net, self.receiver = net, check_choice("receiver", receiver, RECEIVERS)

    @torch.no_grad()
    def images(self, payload: RxPayload) -> Tensor:
        llr = torch.from_numpy(np.ascontiguousarray(payload.values, np.float32))
        return self.net.reconstruct(soft_bits(llr, torch.from_numpy(payload.erased),
                                              self.receiver))

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        x_hat = self.images(payload)
        probs = torch.softmax(self.net.classify(x_hat), 1)
        return CodecOutput(probs.numpy().astype(np.float32),
                           {"images": x_hat.numpy().astype(np.float32),
                            "bits_erased": payload.erased.mean(1)})


@register_codec("tosc-sr", codec_id=8)
class TOSCSRCodec(EndToEndCodec):
    """The card's ``arch``: latent_bits K, width, bits_per_symbol; ``task``: F's backbone and
    normalisation (its weights are the bundle's ``task.*``, on the server side only)."""

    tx_keys = ("encoder.",)
    rx_keys = ("decoder.", "task.")
    receivers = RECEIVERS
    default_receiver = "soft"
    trainer = "phydnn train-tosc"

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"latent_bits": 4, "width": 32, "bits_per_symbol": 2}

    @classmethod
    def payload_spec(cls, card: dict[str, Any]) -> PayloadSpec:
        return PayloadSpec.from_dict(card["payload"])

    @classmethod
    def build_net(cls, arch: dict[str, Any], task: nn.Module, task_card: dict[str, Any],
                  data_card: dict[str, Any]) -> TOSCNet:
        unknown = set(arch) - set(cls.default_arch())
        if unknown:
            raise ConfigError(f"arch keys {sorted(unknown)} are not known to tosc-sr; known: "
                              f"{sorted(cls.default_arch())}")
        a = {**cls.default_arch(), **arch}
        return TOSCNet(task, tuple(data_card["input_shape"]), int(a["latent_bits"]),
                       int(a["width"]), int(a["bits_per_symbol"]), tuple(data_card["mean"]),
                       tuple(data_card["std"]), tuple(task_card["mean"]),
                       tuple(task_card["std"]))

    @classmethod
    def build_from_card(cls, card: dict[str, Any]) -> TOSCNet:
        from phydnn.models import build_backbone
        task = card.get("task")
        if not isinstance(task, dict) or "backbone" not in task:
            raise CheckpointError(f"{card.get('path')}: a tosc-sr card needs 'task' with the "
                                  f"task network's backbone and normalisation")
        f = build_backbone(task["backbone"], int(card["in_channels"]),
                           int(task["num_classes"]))
        return cls.build_net(card["arch"], f, task, card)

    @classmethod
    def card_fields(cls, net: TOSCNet) -> dict[str, Any]:
        return {"payload": net.payload_spec().as_dict(), "values_per_image": net.values,
                "latent_shape": list(net.latent_shape), "bits_per_image": net.values,
                "fingerprint": cls.fingerprint(net)}

    @classmethod
    def transmitter(cls, state, card) -> Transmitter:
        return TOSCTransmitter(cls._tx_net(state, card), card)

    @classmethod
    def receiver(cls, state, card, receiver: str | None = None) -> Receiver:
        return TOSCReceiver(cls._net(state, card, cls.rx_keys), card,
                            receiver or cls.default_receiver)

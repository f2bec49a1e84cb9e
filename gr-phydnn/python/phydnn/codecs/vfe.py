"""Variational feature encoding, VFE and VL-VFE (paper 000, Shao, Mao and Zhang, JSAC 2022),
as a codec over the ``analog`` payload (or, digital, each dimension quantised onto PSK).

    x -> f(x): conv s2 -> conv s2 -> flatten -> LayerNorm (no affine)       (device)
      -> u_i = [W, b]_i . [f, 1] / ||[W, b]_i||          (Eq. 7: rows of the FC normalised)
      -> z_i = tanh(gamma_i u_i), |z_i| <= 1              (Eq. 8; VL-VFE: gamma_i(sigma), Eq. 11)
      -> the k active dimensions (gamma_i > gamma_0), two per complex symbol, peak power 1
    ~ AWGN of variance sigma^2 per real value (Es/N0 = the paper's PSNR, 1 / sigma^2) ~>
    z_hat placed back (inactive: 0) [+ a feature of sigma for VL-VFE] -> MLP -> logits (server)

Training minimises the variational IB bound (Eq. 3-4) CE + beta KL(p(z_hat|x) || q(z_hat))
with the log-uniform prior and Molchanov's approximation of the KL (Eq. 5-6, alpha_i =
sigma^2 / z_i^2, k1..k3 as printed), by ``phydnn train-codec --codec vfe``. A dimension whose
gamma_i falls under gamma_0 is pruned (Alg. 1): it carries nothing and is not sent.

- **VFE** (static): gamma is a learned vector.
- **VL-VFE** (``variable=1``): gamma_i(sigma) = sum_{j >= i} g_j(sigma) (Eq. 12) with g a
  three-layer MLP of tanh units whose weights are |W| and which has no bias (App. B), so
  every g_j is non-negative and non-decreasing in sigma: the active set is always a prefix
  1..k and k does not fall as the channel worsens. The input is sigma, not Es/N0 in dB (as
  the authors' code does; NOTES.md). Training draws sigma per example (Alg. 2); the server
  network is also given sigma (its own estimate on the link: the noise variance of the
  received values), through a small MLP, as in the authors' code.
- **Digital** (``bits=b``, 2 or 3): each active z_i is quantised uniformly to 2^b levels on
  [-1, 1]; level j, Gray-labelled (label j ^ (j >> 1)) onto the link's Gray-labelled PSK,
  is point j, so neighbouring levels are neighbouring points (the extreme levels meet where
  the circle closes: that is the price of a circle). The receiver takes the posterior mean
  of the level from the received symbol and its noise variance. In training the channel is
  passed straight through (its output z + (E[level | y] - z), gradient of the identity).
- **Gaussian prior** (``prior=1``, the ablation of Sec. V-D): KL to N(m_i, s_i^2) with m, s
  learned (closed form) instead of the log-uniform prior.

The number of active dimensions k is the batch's codec field; values per image = k (the
receiver places the values from it: a prefix for VL-VFE, the card's active set for VFE). The
transmitter of VL-VFE chooses k from the channel's sigma it is told
(:meth:`VFETransmitter.adapt`: feedback from the receiver, a genie, or a fixed assumption of
``fixed_snr_db`` until told: the paper's m = 0 case, App. C).

Where the paper is silent or misleads (NOTES.md): f(x) is normalised (LayerNorm without
affine parameters), otherwise the KL shrinks f (through the batch norms' scales) instead of
gamma and nothing is pruned; gamma learns at ``gamma_lr`` times the learning rate; |z| is
clamped away from 0 in alpha (log 0); the authors' extra factor 0.1 / sigma on the KL is not
used (beta alone weighs it).
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
from phydnn.codecs.layers import conv_bn_relu
from phydnn.codecs.registry import register_codec
from phydnn.errors import ConfigError
from phydnn.phy.channel import snr_db_to_noise_var
from phydnn.phy.constellation import psk_points

__all__ = ["GammaMLP", "NormalisedLinear", "VFECodec", "VFENet", "VFESplit", "active_dims",
           "kl_gaussian", "kl_log_uniform", "quantise_levels"]

K1, K2, K3 = 0.63576, 1.87320, 1.48695      # Eq. 6 (Molchanov et al.)
Z_FLOOR = 1e-4                              # z^2 floor in alpha = sigma^2 / z^2
GAMMA_FLOOR = 1e-4


def kl_log_uniform(z: Tensor, noise_var: Tensor, mask: Tensor) -> Tensor:
    """Eq. 6: KL(N(z_i, sigma^2) || log-uniform) per image, summed over the active
    dimensions (``mask``): k1 - k1 S(k2 + k3 log alpha) + 0.5 log(1 + 1 / alpha), which is 0
    as alpha -> inf (z -> 0) and grows as z grows against the noise."""
    log_alpha = torch.log(noise_var.view(-1, 1)) - torch.log(z.pow(2) + Z_FLOOR)
    kl = K1 - K1 * torch.sigmoid(K2 + K3 * log_alpha) + 0.5 * F.softplus(-log_alpha)
    return (kl * mask).sum(1)


def kl_gaussian(z: Tensor, noise_var: Tensor, mask: Tensor, mean: Tensor,
                log_std: Tensor) -> Tensor:
    """The ablation's KL(N(z_i, sigma^2) || N(m_i, s_i^2)) per image (closed form)."""
    var = noise_var.view(-1, 1)
    s2 = torch.exp(2 * log_std)
    kl = log_std - 0.5 * torch.log(var) + (var + (z - mean).pow(2)) / (2 * s2) - 0.5
    return (kl * mask).sum(1)


class NormalisedLinear(nn.Linear):
    """Eq. 7-8: each row of the augmented matrix [W, b] divided by its L2 norm, so that the
    scale of an output is gamma's alone (an nn.Linear, so that MACs are counted)."""

    def forward(self, x: Tensor) -> Tensor:
        norm = torch.sqrt(self.weight.pow(2).sum(1) + self.bias.pow(2))
        return F.linear(x, self.weight / norm[:, None], self.bias / norm)


class _AbsTanh(nn.Module):
    """App. B: h(x) = tanh(|W| x), no bias (non-negative, non-decreasing in x >= 0)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(F.linear(x, self.weight.abs()))


class GammaMLP(nn.Module):
    """VL-VFE's gamma(sigma) (Eq. 12, App. B): g = three 16-unit layers and an output layer
    of |W|-tanh units, gamma_i = sum_{j >= i} g_j: non-increasing in i, non-decreasing in
    sigma."""

    def __init__(self, dims: int, hidden: int = 16) -> None:
        super().__init__()
        self.g = nn.Sequential(_AbsTanh(1, hidden), _AbsTanh(hidden, hidden),
                               _AbsTanh(hidden, hidden), _AbsTanh(hidden, dims))
        self.register_buffer("suffix", torch.triu(torch.ones(dims, dims)).t().contiguous(),
                             persistent=False)

    def forward(self, sigma: Tensor) -> Tensor:
        """sigma (N,) -> gamma (N, dims)."""
        return self.g(sigma.view(-1, 1)) @ self.suffix


def active_dims(gamma: Tensor, gamma0: float) -> Tensor:
    """The pruning rule of Alg. 1 / Alg. 2: dimension i is active where gamma_i > gamma_0."""
    return gamma > gamma0


def quantise_levels(z: Tensor, bits: int) -> Tensor:
    """z in [-1, 1] -> the index of the nearest of 2^b uniform levels (int64)."""
    top = (1 << bits) - 1
    return torch.round((z.clamp(-1, 1) + 1) * top / 2).long()


def _levels(bits: int) -> Tensor:
    return torch.linspace(-1.0, 1.0, 1 << bits)


def _points(bits: int) -> Tensor:
    """The link's 2^b PSK points (point j carries level j)."""
    return torch.from_numpy(psk_points(1 << bits).astype(np.complex64))


def soft_levels(y: Tensor, noise_var: Tensor, bits: int) -> Tensor:
    """Received PSK symbols (complex) and their noise variance -> the posterior mean of the
    level (point j carries level j)."""
    d = (y.unsqueeze(-1) - _points(bits)).abs().pow(2)
    post = torch.softmax(-d / noise_var.clamp_min(1e-6).unsqueeze(-1), -1)
    return post @ _levels(bits)


class VFENet(nn.Module):
    """The device network f(x) with the normalised FC (``encoder``), the importance gamma
    (``importance``: a vector, or VL-VFE's MLP of sigma) and the server network
    (``decoder``)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 dims: int = 64, hidden: int = 256, pilot_spacing: int = 16,
                 input_shape: tuple[int, int, int] = (1, 28, 28), variable: bool = False,
                 prior: str = "log-uniform", gamma0: float = 0.01, bits: int = 0,
                 max_dims: int = 0, fixed_snr_db: float = 10.0) -> None:
        super().__init__()
        if prior not in ("log-uniform", "gaussian"):
            raise ConfigError(f"prior={prior!r} is not allowed; choose log-uniform or gaussian")
        if bits not in (0, 2, 3):
            raise ConfigError(f"bits={bits} is not allowed; 0 (analog), 2 (QPSK) or 3 (8-PSK)")
        self.dims, self.pilot_spacing, self.bits = int(dims), int(pilot_spacing), int(bits)
        self.variable, self.prior, self.gamma0 = bool(variable), prior, float(gamma0)
        self.max_dims, self.fixed_snr_db = int(max_dims), float(fixed_snr_db)
        convs = nn.Sequential(conv_bn_relu(in_channels, width, 2),
                              conv_bn_relu(width, 2 * width, 2), nn.Flatten())
        with torch.no_grad():
            flat = convs.eval()(torch.zeros(1, *input_shape)).shape[1]
        self.encoder = nn.Sequential(convs, nn.LayerNorm(flat, elementwise_affine=False),
                                     NormalisedLinear(flat, self.dims))
        if self.variable:
            self.importance = GammaMLP(self.dims)
        else:
            self.importance = nn.ParameterDict({"gamma": nn.Parameter(torch.ones(self.dims))})
        if prior == "gaussian":
            self.prior_params = nn.ParameterDict({
                "mean": nn.Parameter(torch.zeros(self.dims)),
                "log_std": nn.Parameter(torch.zeros(self.dims))})
        sigma_features = 16 if self.variable else 0
        self.decoder = _Decoder(self.dims, sigma_features, hidden, num_classes)

    # --- the importance and the active set ---------------------------------------------
    def gamma(self, sigma: Tensor) -> Tensor:
        """(N, dims): gamma_i for each image's sigma (VFE: the same vector for all)."""
        if self.variable:
            return self.importance(sigma).clamp_min(GAMMA_FLOOR)
        g = self.importance["gamma"].clamp_min(GAMMA_FLOOR)
        return g.expand(len(sigma), -1)

    def active(self, snr_db: float) -> Tensor:
        """Indices of the dimensions sent at Es/N0 ``snr_db`` (VL-VFE: a prefix)."""
        sigma = torch.tensor([math.sqrt(snr_db_to_noise_var(float(snr_db)))])
        with torch.no_grad():
            mask = self._mask(self.gamma(sigma))[0]
        return torch.nonzero(mask).view(-1)

    def _mask(self, gamma: Tensor) -> Tensor:
        mask = active_dims(gamma, self.gamma0)
        if self.variable:       # above its training range g(sigma) -> 0: one dimension stays
            mask[:, 0] = True
        return mask

    def k(self, snr_db: float) -> int:
        return int(self.active(snr_db).numel())

    @property
    def values(self) -> int:
        """Values per image at the Es/N0 the transmitter assumes until told (VFE: always)."""
        return self.k(self.fixed_snr_db)

    def admissible(self, snr_db: float) -> bool:
        """An epoch may be chosen only if it sends at most ``max_dims`` values there."""
        return not self.max_dims or 0 < self.k(snr_db) <= self.max_dims

    def payload_spec(self) -> PayloadSpec:
        if self.bits:
            return PayloadSpec("psk", self.bits).check()
        return PayloadSpec("analog", 0, self.pilot_spacing).check()

    # --- the two sides -------------------------------------------------------------------
    def features(self, x: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """(z (N, dims), mask (N, dims)): Eq. 8 / Eq. 11 and the active dimensions."""
        gamma = self.gamma(sigma)
        z = torch.tanh(gamma * self.encoder(x))
        return z, self._mask(gamma)

    @torch.no_grad()
    def transmit(self, x: Tensor, snr_db: float | None = None) -> Tensor:
        """The values on air at Es/N0 ``snr_db`` (default: ``fixed_snr_db``): the active z
        (analog, float32) or their level indices (digital, point indices)."""
        snr = self.fixed_snr_db if snr_db is None else float(snr_db)
        sigma = torch.full((len(x),), math.sqrt(snr_db_to_noise_var(snr)))
        z, _ = self.features(x, sigma)
        z = z[:, self.active(snr)]
        return quantise_levels(z, self.bits).to(torch.uint8) if self.bits else z.float()

    def place(self, received: Tensor, k: int, erased: Tensor) -> Tensor:
        """Received values (N, k) -> z_hat (N, dims): into the active set of k dimensions
        (VL-VFE: the prefix 1..k; VFE: the card's set), zero elsewhere and where erased."""
        index = torch.arange(k) if self.variable else self.active(self.fixed_snr_db)
        if len(index) != k:
            raise ValueError(f"{k} values per image; this VFE sends {len(index)}")
        z = torch.zeros(len(received), self.dims)
        z[:, index] = torch.where(erased, torch.zeros(()), received.float())
        return z

    def decide(self, z_hat: Tensor, sigma: Tensor) -> Tensor:
        return self.decoder(z_hat, sigma if self.variable else None)

    def receive(self, values: Tensor, noise_var: Tensor, erased: Tensor,
                receiver: str = "soft") -> Tensor:
        """What the link hands over (analog: values; digital: complex symbols) -> logits."""
        if self.bits:
            values = soft_levels(values, noise_var, self.bits)
        live = (~erased).float()
        nv = (noise_var * live).sum(1) / live.sum(1).clamp_min(1.0)
        sigma = torch.where(live.sum(1) > 0, nv, torch.ones(())).clamp_min(1e-8).sqrt()
        return self.decide(self.place(values, values.shape[1], erased), sigma)

    def simulate(self, x: Tensor, noise_var: float, receiver: str = "soft",
                 generator: torch.Generator | None = None) -> Tensor:
        """The torch link at one Es/N0, the transmitter told it (genie)."""
        snr = -10.0 * math.log10(max(float(noise_var), 1e-12))
        sent = self.transmit(x, snr)
        nv = torch.full(sent.shape, float(noise_var))
        if self.bits:
            noise = torch.complex(torch.randn(sent.shape, generator=generator),
                                  torch.randn(sent.shape, generator=generator))
            y = _points(self.bits)[sent.long()] + noise * math.sqrt(float(noise_var) / 2)
        else:
            y = sent + torch.randn(sent.shape, generator=generator) * float(noise_var) ** 0.5
        return self.receive(y, nv, torch.zeros(sent.shape, dtype=torch.bool), receiver)

    # --- training (the channel in the graph) ---------------------------------------------
    def _channel(self, z: Tensor, mask: Tensor, noise_var: Tensor) -> Tensor:
        sd = noise_var.sqrt().view(-1, 1)
        if not self.bits:
            return z + torch.randn_like(z) * sd * mask
        q = quantise_levels(z.detach(), self.bits)
        noise = torch.complex(torch.randn_like(z), torch.randn_like(z)) * (sd / math.sqrt(2))
        level = soft_levels(_points(self.bits)[q] + noise, noise_var.view(-1, 1).expand_as(z),
                            self.bits)
        return z + (level - z).detach()

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Tensor]:
        """Alg. 1 / Alg. 2: the pruned dimensions masked (their gradient passed straight
        through, so a dimension can come back while gamma is unsettled), noise on the active
        ones, the KL of Eq. 6 (or the Gaussian prior's) as the regulariser. The trainer's
        ``symbol_errors`` column carries the mean number of active dimensions instead (what
        pruning is watched by)."""
        sigma = noise_var.sqrt()
        z, mask = self.features(x, sigma)
        mask = mask.float()
        z_sent = z + (z * mask - z).detach()
        z_hat = self._channel(z_sent, mask, noise_var) * mask
        if self.prior == "gaussian":
            kl = kl_gaussian(z, noise_var, mask, self.prior_params["mean"],
                             self.prior_params["log_std"])
        else:
            kl = kl_log_uniform(z, noise_var, mask)
        logits = self.decide(z_hat, sigma)
        return {"logits": logits, "regulariser": kl.mean(),
                "symbol_errors": mask.sum(1).mean().detach()}

    def param_groups(self, lr: float, gamma_lr: float) -> list[dict[str, Any]]:
        """gamma learns faster than the rest (NOTES.md)."""
        fast = list(self.importance.parameters())
        ids = {id(p) for p in fast}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest, "lr": lr}, {"params": fast, "lr": lr * gamma_lr}]


class _Decoder(nn.Module):
    """The server network: z_hat (and, for VL-VFE, a 16-unit feature of sigma) -> logits."""

    def __init__(self, dims: int, sigma_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.sigma = (nn.Sequential(nn.Linear(1, sigma_features), nn.ReLU(),
                                    nn.Linear(sigma_features, sigma_features), nn.ReLU())
                      if sigma_features else None)
        self.body = nn.Sequential(nn.Linear(dims + sigma_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, num_classes))

    def forward(self, z_hat: Tensor, sigma: Tensor | None) -> Tensor:
        if self.sigma is not None:
            z_hat = torch.cat([z_hat, self.sigma(sigma.view(-1, 1).float())], 1)
        return self.body(z_hat)


class VFETransmitter(Transmitter):
    """The device: k (the codec field) from the Es/N0 it was last told."""

    def __init__(self, net: VFENet, card: dict[str, Any]) -> None:
        super().__init__(card, VFECodec.payload_spec(card))
        self.net = net
        self.snr_db = net.fixed_snr_db

    def adapt(self, snr_db: float) -> None:
        """Told the channel's Es/N0 (feedback or a genie): VL-VFE sizes k from it; VFE's k
        is fixed."""
        if self.net.variable:
            self.snr_db = float(snr_db)

    def encode_tensor(self, x: Tensor) -> TxPayload:
        values = self.net.transmit(x, self.snr_db)
        return TxPayload(values.numpy(), int(values.shape[1]))

    def complexity(self) -> tuple[int, int]:
        from phydnn.models.complexity import count_macs, count_params
        macs, _ = count_macs(self.net.encoder, tuple(self.card["input_shape"]))
        return count_params(self.net.encoder) + count_params(self.net.importance), macs


class VFEReceiver(Receiver):
    """The server: k values per image (the codec field), placed and classified."""

    def __init__(self, net: VFENet, card: dict[str, Any]) -> None:
        super().__init__(card, VFECodec.payload_spec(card))
        self.net = net

    def check_field(self, codec_field: int) -> None:
        if self.net.variable:
            if not 1 <= codec_field <= self.net.dims:
                raise ValueError(f"codec field {codec_field} active dimensions; this VL-VFE "
                                 f"sends 1..{self.net.dims}")
        elif codec_field != self.net.values:
            raise ValueError(f"codec field {codec_field} active dimensions; this VFE sends "
                             f"{self.net.values}")

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        return int(codec_field)

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        self.check_field(payload.codec_field)
        values = torch.from_numpy(np.ascontiguousarray(payload.values))
        nv = torch.from_numpy(payload.noise_var.astype(np.float32))
        logits = self.net.receive(values, nv, torch.from_numpy(payload.erased))
        return CodecOutput(torch.softmax(logits, 1).numpy().astype(np.float32),
                           {"active_dims": int(payload.codec_field)})


@register_codec("vfe", codec_id=5)
class VFECodec(EndToEndCodec):
    """VFE / VL-VFE (paper 000). ``importance.`` (gamma) is in both bundles: the transmitter
    prunes by it, the receiver of VFE places the values by it."""

    tx_keys = ("encoder.", "importance.")
    rx_keys = ("decoder.", "importance.")
    card_snrs = (10.0, 15.0, 20.0, 25.0)

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"width": 16, "dims": 64, "hidden": 256, "pilot_spacing": 16, "variable": 0,
                "prior": 0, "gamma0_milli": 10, "bits": 0, "max_dims": 0, "gamma_lr": 10,
                "fixed_snr_db": 10}

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape) -> VFENet:
        a = {**cls.default_arch(), **arch}
        if a["prior"] not in (0, 1):
            raise ConfigError(f"arch prior={a['prior']} is not allowed; 0 (log-uniform) or "
                              f"1 (Gaussian)")
        return VFENet(in_channels, num_classes, int(a["width"]), int(a["dims"]),
                      int(a["hidden"]), int(a["pilot_spacing"]), tuple(input_shape),
                      bool(a["variable"]), ("log-uniform", "gaussian")[int(a["prior"])],
                      int(a["gamma0_milli"]) / 1000.0, int(a["bits"]), int(a["max_dims"]),
                      float(a["fixed_snr_db"]))

    @classmethod
    def optimiser_groups(cls, net: VFENet, lr: float, arch: dict[str, Any]):
        return net.param_groups(lr, float({**cls.default_arch(), **arch}["gamma_lr"]))

    @classmethod
    def card_fields(cls, net: VFENet) -> dict[str, Any]:
        """The active dimensions at every Es/N0 of the card (VFE: one set)."""
        fields = super().card_fields(net)
        snrs = sorted({*cls.card_snrs, *range(0, 31, 5)})
        fields["active_dims_vs_snr"] = {f"{s:.1f}": net.k(s) for s in snrs}
        if not net.variable:
            fields["active_dims"] = [int(i) for i in net.active(net.fixed_snr_db)]
        return fields

    @classmethod
    def transmitter(cls, state, card) -> Transmitter:
        return VFETransmitter(cls._tx_net(state, card), card)

    @classmethod
    def receiver(cls, state, card, receiver: str | None = None) -> Receiver:
        from phydnn.errors import check_choice
        check_choice("receiver", receiver or cls.default_receiver, cls.receivers)
        return VFEReceiver(cls._net(state, card, cls.rx_keys), card)


class _SplitHead(nn.Module):
    """x -> the k active values of a static VFE-family network, as (N, k, 1, 1)."""

    def __init__(self, net: VFENet, index: Tensor) -> None:
        super().__init__()
        self.encoder, self.importance = net.encoder, net.importance
        self.register_buffer("index", index.clone(), persistent=False)
        self._gamma = net.gamma

    def forward(self, x: Tensor) -> Tensor:
        z = torch.tanh(self._gamma(torch.zeros(len(x))) * self.encoder(x))
        return z[:, self.index].reshape(len(x), -1, 1, 1)


class _SplitTail(nn.Module):
    """(N, k, 1, 1) values -> logits: placed into the active dimensions, the server network."""

    def __init__(self, net: VFENet, index: Tensor) -> None:
        super().__init__()
        self.decoder, self.dims = net.decoder, net.dims
        self.register_buffer("index", index.clone(), persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        placed = torch.zeros(len(z), self.dims, dtype=z.dtype)
        placed[:, self.index] = z.reshape(len(z), -1)
        return self.decoder(placed, None)


class VFESplit(nn.Module):
    """A static VFE-family network (e.g. trained with beta = 0: the network of paper 000's
    learning-based quantisation baseline, Sec. V-A) as the bottleneck of the separation
    codec (:mod:`phydnn.codecs.separation`): ``head`` the device's values as a feature map of
    ``width`` channels, ``tail`` the server network."""

    def __init__(self, net: VFENet) -> None:
        super().__init__()
        if net.variable:
            raise ConfigError("a VL-VFE network cannot be quantised by the separation "
                              "baseline: its active dimensions follow the channel")
        index = net.active(net.fixed_snr_db)
        self.head, self.tail = _SplitHead(net, index), _SplitTail(net, index)
        self.width = int(len(index))

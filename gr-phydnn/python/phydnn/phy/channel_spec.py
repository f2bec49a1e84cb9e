"""A channel by name, the same in training, in ``phydnn eval`` and in the link simulation:
AWGN, Rayleigh or Rician fading (block or fast), a residual phase error, with the receiver's
channel state perfect or estimated as the GNU Radio receiver estimates it.

Paper 003 Sec. IV evaluates PhyDNN in line-of-sight and non-line-of-sight scenarios; the
model of one received symbol here is

    y = h e^{j phi} x + n,   n ~ CN(0, sigma^2),   E|h|^2 = 1,

then equalised by the receiver's estimate h_hat: x_hat = y / h_hat with the noise variance
it reports, sigma_eff^2 = sigma^2 (1 + 1/P) / |h_hat|^2 (the estimate's own error adds
sigma^2 / P for P known symbols). ``snr_db`` is therefore the *average* Es/N0.

- ``awgn``: h = 1.
- ``rayleigh``: h ~ CN(0, 1).
- ``rician``: h = sqrt(K/(K+1)) e^{j theta} + CN(0, 1/(K+1)), theta uniform.
- ``phase``: h = 1 and a residual phase error phi ~ N(0, phase_error_deg^2) per block, which
  the receiver does not know (imperfect carrier tracking); ``phase_error_deg`` adds the same
  error to a fading channel too.

``fading="block"``: one gain per image (one per ``block_length`` symbols when that is set),
as the GNU Radio receiver sees it, one channel estimate per segment from its sync word and
header; ``"fast"``: a new gain every symbol. ``csi="estimated"``: h_hat = h + CN(0,
sigma^2 / P) with P = ``pilots`` known symbols (the 127-symbol sync word); ``"perfect"``: h_hat = h.

Parameter names match the GNU Radio Channel Simulator's (``fading``, ``k_factor``) where the
two share a meaning.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor

from phydnn.errors import ConfigError, check_choice, check_non_negative, check_positive
from phydnn.phy.channel import ChannelOutput, add_awgn, complex_gaussian, fading_gains

__all__ = ["CHANNEL_KINDS", "ChannelSpec", "add_channel_arguments", "channel_from_args",
           "through"]

CHANNEL_KINDS = ("awgn", "rayleigh", "rician", "phase")
FADING_TIMES = ("block", "fast")
CSI_KINDS = ("estimated", "perfect")


@dataclass(frozen=True)
class ChannelSpec:
    """One named channel (see the module docstring); :meth:`apply` draws it."""

    kind: str = "awgn"
    fading: str = "block"
    block_length: int = 0           # symbols per gain; 0: one gain per image
    k_factor: float = 3.0           # Rician K (linear), LoS power over scattered power
    csi: str = "estimated"
    pilots: int = 127               # known symbols behind the estimate (the sync word)
    phase_error_deg: float = 0.0    # std of the residual phase error per block

    def check(self) -> ChannelSpec:
        check_choice("channel", self.kind, CHANNEL_KINDS)
        check_choice("fading", self.fading, FADING_TIMES)
        check_choice("csi", self.csi, CSI_KINDS)
        check_non_negative("block_length", self.block_length, integer=True)
        check_non_negative("k_factor", self.k_factor)
        check_positive("pilots", self.pilots, integer=True)
        check_non_negative("phase_error_deg", self.phase_error_deg)
        if self.kind == "phase" and self.phase_error_deg == 0:
            raise ConfigError("channel='phase' needs phase_error_deg > 0 (the std of the "
                              "residual phase error, in degrees)")
        return self

    @property
    def is_awgn(self) -> bool:
        return self.kind == "awgn" and self.phase_error_deg == 0

    def describe(self) -> str:
        """A short label for tables and plots, e.g. ``rayleigh block, estimated CSI``."""
        if self.is_awgn:
            return "AWGN"
        parts = [self.kind if self.kind != "rician" else f"rician K={self.k_factor:g}"]
        if self.kind in ("rayleigh", "rician"):
            parts[0] += f" {self.fading}"
            parts.append(f"{self.csi} CSI")
        if self.phase_error_deg:
            parts.append(f"phase error {self.phase_error_deg:g} deg")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChannelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown channel setting {unknown[0]!r}; known: "
                              f"{', '.join(sorted(known))}")
        return cls(**d).check()

    def _gains(self, shape: tuple[int, ...], device: torch.device,
               generator: torch.Generator | None) -> Tensor:
        """Complex gains h (E|h|^2 = 1) of the fading kinds; ones otherwise."""
        if self.kind not in ("rayleigh", "rician"):
            return torch.ones(shape, dtype=torch.complex64, device=device)
        return fading_gains(shape, self.k_factor if self.kind == "rician" else 0.0, device,
                            generator)

    def _per_symbol(self, values: Tensor, n: int) -> Tensor:
        """Block values (N, B) repeated to the N x n symbols."""
        if self.fading == "fast" and self.kind in ("rayleigh", "rician"):
            return values
        step = self.block_length or n
        return values.repeat_interleave(step, dim=-1)[..., :n]

    def apply(self, symbols: Tensor, noise_var: float | Tensor,
              generator: torch.Generator | None = None) -> ChannelOutput:
        """Received and equalised symbols of the same shape as ``symbols`` (N, ...) complex,
        with the noise variance of each (sigma_eff^2 above). ``noise_var`` is sigma^2, a
        scalar or one value per image (N,). Differentiable in ``symbols``."""
        shape = symbols.shape
        x = symbols.reshape(shape[0], -1)
        n = x.shape[1]
        nv = torch.as_tensor(noise_var, dtype=torch.float32, device=x.device)
        nv = nv.reshape(-1, 1) if nv.dim() else nv
        fast = self.fading == "fast" and self.kind in ("rayleigh", "rician")
        blocks = n if fast else -(-n // (self.block_length or n))
        h = self._per_symbol(self._gains((x.shape[0], blocks), x.device, generator), n)
        if self.phase_error_deg:
            phi = torch.randn((x.shape[0], blocks), device=x.device, generator=generator)
            phi = self._per_symbol(phi * math.radians(self.phase_error_deg), n)
            h_true = h * torch.polar(torch.ones_like(phi), phi)
        else:
            h_true = h
        noise = complex_gaussian(x.shape, 1.0, x.device, generator) * nv.sqrt()
        y = h_true * x + noise
        if self.kind in ("rayleigh", "rician"):
            h_hat, extra = h, 0.0
            if self.csi == "estimated":
                err = complex_gaussian(h.shape, 1.0, x.device, generator)
                h_hat, extra = h + err * (nv / self.pilots).sqrt(), 1.0 / self.pilots
            gain2 = h_hat.abs().square().clamp_min(1e-12)
            return ChannelOutput((y / h_hat).reshape(shape),
                                 (nv * (1.0 + extra) / gain2).reshape(shape))
        return ChannelOutput(y.reshape(shape), nv.expand_as(x.real).reshape(shape))


def through(channel: ChannelSpec | None, symbols: Tensor, noise_var: float | Tensor,
            generator: torch.Generator | None = None) -> tuple[Tensor, float | Tensor]:
    """Symbols (N, ...) through ``channel`` (None or AWGN: plain AWGN) at noise variance
    ``noise_var`` (a scalar, or one per image broadcastable to the symbols): the received
    (equalised) symbols and the noise variance the receiver should use for each."""
    if channel is None or channel.is_awgn:
        return add_awgn(symbols, noise_var, generator), noise_var
    nv = torch.as_tensor(noise_var, dtype=torch.float32)
    out = channel.apply(symbols, nv.reshape(-1) if nv.dim() else nv, generator)
    return out.symbols, out.noise_var


def add_channel_arguments(parser: Any) -> None:
    """The channel flags of every program that takes a torch channel (``phydnn eval``)."""
    g = parser.add_argument_group("channel (torch path)")
    g.add_argument("--channel", default="awgn", choices=CHANNEL_KINDS,
                   help="channel model (default: %(default)s)")
    g.add_argument("--fading", default="block", choices=FADING_TIMES,
                   help="block: one gain per image; fast: per symbol (default: %(default)s)")
    g.add_argument("--k-factor", type=float, default=3.0,
                   help="Rician K factor, linear (default: %(default)s)")
    g.add_argument("--csi", default="estimated", choices=CSI_KINDS,
                   help="receiver's channel knowledge (default: %(default)s)")
    g.add_argument("--phase-error-deg", type=float, default=0.0,
                   help="std of a residual phase error per block, degrees (default: "
                        "%(default)s)")


def channel_from_args(args: Any) -> ChannelSpec:
    """The :class:`ChannelSpec` of :func:`add_channel_arguments`' flags, checked."""
    return ChannelSpec(args.channel, args.fading, k_factor=args.k_factor, csi=args.csi,
                       phase_error_deg=args.phase_error_deg).check()

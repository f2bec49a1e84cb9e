"""Channel models in torch: AWGN, Rayleigh/Rician block fading with equalisation, phase offset.

Paper 003, Sec. III-A: the channel between modulator h_m and demodulator g_m is a non-trainable,
differentiable layer; its noise is eps ~ CN(0, sigma^2 I) and the SNR is 10 log10(P / sigma^2)
with P the transmitter's peak power. With unit-peak-power PSK (P = 1) this is Es/N0 per symbol,
the definition every part of gr-phydnn shares (DESIGN.md, Definitions): the GNU Radio loopback
channel scales its per-sample noise so that the same Es/N0 holds after matched filtering.

Every channel maps symbols ``(...)`` complex -> :class:`ChannelOutput` holding the received
(for fading: equalised) symbols and the complex noise variance seen by each symbol, which the
soft demodulator needs. Parameter names match the GNU Radio channel simulator block:
``snr_db``, ``phase_offset``, ``fading``, ``k_factor``, ``csi_error_var``, ``block_length``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from phydnn.errors import ConfigError, check_choice, check_non_negative, check_positive

__all__ = [
    "ChannelOutput",
    "AWGNChannel",
    "FadingChannel",
    "PhaseOffset",
    "ChannelChain",
    "snr_db_to_noise_var",
    "complex_gaussian",
    "add_awgn",
    "fading_gains",
]

FADING_KINDS = ("rayleigh", "rician")


@dataclass
class ChannelOutput:
    """Received symbols and the complex noise variance per symbol (broadcastable to them)."""

    symbols: Tensor
    noise_var: Tensor


def snr_db_to_noise_var(snr_db: float, peak_power: float = 1.0) -> float:
    """sigma^2 = P / 10^(SNR/10): complex noise variance for Es/N0 = ``snr_db`` (Sec. III-A)."""
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or snr_db != snr_db:
        raise ConfigError(f"snr_db={snr_db!r} is not allowed; it must be a number in dB")
    return peak_power / 10.0 ** (snr_db / 10.0)


def complex_gaussian(shape: torch.Size | tuple[int, ...], variance: float | Tensor,
                     device: torch.device | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """Samples of CN(0, variance): real and imaginary parts each of variance/2."""
    re = torch.randn(shape, device=device, generator=generator)
    im = torch.randn(shape, device=device, generator=generator)
    scale = torch.as_tensor(variance, device=device).sqrt() / math.sqrt(2.0)
    return torch.complex(re, im) * scale


def fading_gains(shape: tuple[int, ...], k_factor: float = 0.0,
                 device: torch.device | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Complex gains with E|h|^2 = 1: Rayleigh (``k_factor`` 0) or Rician,
    h = sqrt(K/(K+1)) e^{j theta} + CN(0, 1/(K+1)) with uniform theta."""
    k = float(k_factor)
    scatter = complex_gaussian(shape, 1.0 / (k + 1.0), device, generator)
    if k == 0.0:
        return scatter
    theta = torch.rand(shape, device=device, generator=generator) * 2 * math.pi
    return math.sqrt(k / (k + 1.0)) * torch.polar(torch.ones_like(theta), theta) + scatter


def add_awgn(symbols: Tensor, noise_var: float | Tensor,
             generator: torch.Generator | None = None) -> Tensor:
    """symbols + CN(0, noise_var); ``noise_var`` may be a tensor broadcastable to ``symbols``
    (e.g. one value per image, for training over a range of SNRs)."""
    noise = complex_gaussian(symbols.shape, 1.0, symbols.device, generator)
    nv = torch.as_tensor(noise_var, dtype=torch.float32, device=symbols.device)
    return symbols + noise * nv.sqrt()


class AWGNChannel(nn.Module):
    """y = x + n, n ~ CN(0, sigma^2) with sigma^2 = P / 10^(snr_db/10) (paper Sec. III-A)."""

    def __init__(self, snr_db: float, peak_power: float = 1.0) -> None:
        super().__init__()
        check_positive("peak_power", peak_power)
        self.peak_power = float(peak_power)
        self.snr_db = snr_db
        self.noise_var = snr_db_to_noise_var(snr_db, peak_power)

    def set_snr_db(self, snr_db: float) -> None:
        """Change the operating point (e.g. for an SNR sweep) without rebuilding the graph."""
        self.noise_var = snr_db_to_noise_var(snr_db, self.peak_power)
        self.snr_db = snr_db

    def forward(self, symbols: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        nv = torch.tensor(self.noise_var, device=symbols.device)
        return ChannelOutput(add_awgn(symbols, nv, generator), nv)

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db}, noise_var={self.noise_var:.4g}"


class PhaseOffset(nn.Module):
    """y = x * exp(j * phase_offset): a constant carrier phase rotation in radians."""

    def __init__(self, phase_offset: float) -> None:
        super().__init__()
        self.phase_offset = float(phase_offset)

    def forward(self, symbols: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        rot = complex(math.cos(self.phase_offset), math.sin(self.phase_offset))
        return ChannelOutput(symbols * rot, torch.tensor(0.0, device=symbols.device))


class FadingChannel(nn.Module):
    """Flat block fading + AWGN + zero-forcing equalisation with perfect or noisy CSI.

    Along the last dimension, every ``block_length`` consecutive symbols share one gain h:
    Rayleigh h ~ CN(0, 1); Rician h = sqrt(K/(K+1)) e^{j theta} + sqrt(1/(K+1)) CN(0, 1) with
    uniform theta. The receiver equalises with an estimate h_hat = h + CN(0, csi_error_var)
    (0: perfect CSI) and reports the post-equalisation noise variance sigma^2 / |h_hat|^2.
    E|h|^2 = 1, so ``snr_db`` is the average Es/N0.
    """

    def __init__(self, snr_db: float, fading: str = "rayleigh", k_factor: float = 0.0,
                 block_length: int = 1, csi_error_var: float = 0.0,
                 peak_power: float = 1.0) -> None:
        super().__init__()
        self.fading = check_choice("fading", fading, FADING_KINDS)
        self.k_factor = check_non_negative("k_factor", k_factor)
        self.block_length = check_positive("block_length", block_length, integer=True)
        self.csi_error_var = check_non_negative("csi_error_var", csi_error_var)
        self.awgn = AWGNChannel(snr_db, peak_power)

    def gains(self, n_blocks_shape: tuple[int, ...], device: torch.device | None,
              generator: torch.Generator | None) -> Tensor:
        """Draw one complex gain per block with E|h|^2 = 1."""
        k = self.k_factor if self.fading == "rician" else 0.0
        return fading_gains(n_blocks_shape, k, device, generator)

    def forward(self, symbols: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        *lead, n = symbols.shape
        n_blocks = -(-n // self.block_length)
        h = self.gains((*lead, n_blocks), symbols.device, generator)
        h = h.repeat_interleave(self.block_length, dim=-1)[..., :n]
        received = self.awgn(symbols * h, generator).symbols
        h_hat = h
        if self.csi_error_var > 0:
            h_hat = h + complex_gaussian(h.shape, self.csi_error_var, symbols.device, generator)
        equalised = received / h_hat
        noise_var = self.awgn.noise_var / h_hat.abs().square().clamp_min(1e-12)
        return ChannelOutput(equalised, noise_var)

    def extra_repr(self) -> str:
        return (f"fading={self.fading}, k_factor={self.k_factor}, "
                f"block_length={self.block_length}, csi_error_var={self.csi_error_var}")


class ChannelChain(nn.Module):
    """Apply channels in order; noise variances add (each stage's noise is independent)."""

    def __init__(self, *stages: nn.Module) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, symbols: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        noise_var: Tensor = torch.tensor(0.0, device=symbols.device)
        for stage in self.stages:
            out = stage(symbols, generator)
            symbols, noise_var = out.symbols, noise_var + out.noise_var
        return ChannelOutput(symbols, noise_var)

"""M-PSK constellations with unit peak power, modulation and hard/soft demodulation.

Paper 003, Sec. III-A: the modulator h_m maps each M-ary latent symbol z_i to a PSK point, the
transmitter's peak power is P (here P = 1, every point on the unit circle), and the demodulator
g_m maps received samples back to symbols. These layers have no trainable parameters; they are
differentiable where that makes sense (soft demodulation), so they can sit inside a training
graph (paper Fig. 2, Eq. 7-9).

Point k sits at angle ``2*pi*k/M + rotation``; adjacent indices are adjacent points, so the
constellation map pi (embedding -> point index) decides which embeddings are neighbours on air.
The default rotation is pi/4 for M = 4 (GNU Radio's QPSK, (+-1 +-1j)/sqrt(2)) and 0 otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from phydnn.errors import ConfigError, check_positive

__all__ = [
    "PSKConstellation",
    "psk_points",
    "psk_ser_theory",
]


def default_rotation(order: int) -> float:
    """Rotation of point 0 in radians: pi/4 for QPSK (GNU Radio's convention), else 0."""
    return math.pi / 4 if order == 4 else 0.0


def psk_points(order: int, rotation: float | None = None) -> np.ndarray:
    """Return the ``order`` unit-magnitude PSK points as a complex128 numpy array."""
    _check_order(order)
    rot = default_rotation(order) if rotation is None else float(rotation)
    k = np.arange(order)
    return np.exp(1j * (2 * np.pi * k / order + rot))


def psk_ser_theory(order: int, snr_db: float | np.ndarray) -> np.ndarray:
    """Exact symbol error rate of coherent M-PSK over AWGN at Es/N0 = ``snr_db``.

    Craig's formula: P_s = 1/pi * int_0^{(M-1)pi/M} exp(-g sin^2(pi/M) / sin^2(t)) dt with
    g = Es/N0 (linear). For M = 2 it reduces to Q(sqrt(2 Es/N0)).
    """
    _check_order(order)
    gamma = np.expand_dims(10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0), -1)
    t, dt = np.linspace(1e-12, (order - 1) * np.pi / order, 20001, retstep=True)
    f = np.exp(-gamma * math.sin(math.pi / order) ** 2 / np.sin(t) ** 2)
    return (f[..., 1:] + f[..., :-1]).sum(-1) * dt / 2 / np.pi


class PSKConstellation(nn.Module):
    """M-PSK with unit peak power: modulate indices, demodulate hard or soft.

    Shapes: indices ``(...)`` int64 -> symbols ``(...)`` complex64; received ``(...)`` complex
    -> hard indices ``(...)`` or posteriors ``(..., M)``. Works on CPU or GPU (the points are a
    buffer and follow ``.to(device)``).
    """

    def __init__(self, order: int, rotation: float | None = None) -> None:
        super().__init__()
        self.order = _check_order(order)
        self.rotation = default_rotation(order) if rotation is None else float(rotation)
        pts = torch.from_numpy(psk_points(order, self.rotation)).to(torch.complex64)
        self.register_buffer("points", pts, persistent=False)

    @property
    def bits_per_symbol(self) -> float:
        """log2(M): bits carried by one symbol."""
        return math.log2(self.order)

    def modulate(self, indices: Tensor) -> Tensor:
        """Map integer symbol indices in [0, M) to their complex PSK points."""
        if indices.dtype.is_floating_point or indices.is_complex():
            raise ConfigError(f"indices must be an integer tensor, got dtype {indices.dtype}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.order):
            raise ConfigError(f"indices must lie in [0, {self.order}) for M={self.order}")
        return self.points[indices]

    def modulate_onehot(self, onehot: Tensor) -> Tensor:
        """Map (straight-through) one-hot vectors ``(..., M)`` to points, keeping gradients.

        Used in training with Gumbel-softmax samples (paper Alg. 1, line 8): the symbol is a
        weighted sum of points, exact for one-hot inputs and differentiable in the weights.
        """
        w = onehot.to(self.points.real.dtype)
        return torch.complex(w @ self.points.real, w @ self.points.imag)

    def distances(self, received: Tensor) -> Tensor:
        """Squared Euclidean distance ``(..., M)`` from each received sample to every point."""
        return (received.unsqueeze(-1) - self.points).abs().square()

    def demodulate_hard(self, received: Tensor) -> Tensor:
        """Nearest-point decision: the maximum-likelihood index over AWGN."""
        # Nearest point on a circle == largest projection Re(y * conj(s_k)); avoids |.|^2 work.
        proj = (received.unsqueeze(-1) * self.points.conj()).real
        return proj.argmax(dim=-1)

    def log_likelihood(self, received: Tensor, noise_var: Tensor | float) -> Tensor:
        """log p(y | k) per point (..., M) for complex Gaussian noise of variance
        ``noise_var`` (scalar or broadcastable to ``received``), up to a term that is the same
        for every k: -|y - s_k|^2 / sigma^2 = (2 Re(y s_k^*) - |s_k|^2 - |y|^2) / sigma^2, with
        the |y|^2 term left out (one real 2 x M product instead of M complex distances)."""
        nv = torch.as_tensor(noise_var, dtype=received.real.dtype, device=received.device)
        if bool((nv <= 0).any()):
            raise ConfigError("noise_var must be positive for soft demodulation")
        pts = self.points.to(received.dtype)
        proj = torch.stack((received.real, received.imag), -1) @ torch.stack(
            (pts.real, pts.imag))
        return (2 * proj - pts.abs().square()) / (nv.unsqueeze(-1) if nv.dim() else nv)

    def demodulate_soft(self, received: Tensor, noise_var: Tensor | float,
                        prior: Tensor | None = None) -> Tensor:
        """Posterior p(k | y) over the M points, proportional to prior_k p(y | k)."""
        logits = self.log_likelihood(received, noise_var)
        if prior is not None:
            logits = logits + prior.clamp_min(1e-30).log()
        return torch.softmax(logits, dim=-1)

    def extra_repr(self) -> str:
        return f"order={self.order}, rotation={self.rotation:.4f}"


def _check_order(order: int) -> int:
    check_positive("M", order, integer=True)
    if order < 2:
        raise ConfigError(f"M={order!r} is not allowed; PSK needs M >= 2")
    return order

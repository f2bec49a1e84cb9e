"""How good a reconstructed image is, per image, for images in [0, 1] (N, C, H, W): PSNR,
SSIM (Wang et al., IEEE TIP 2004: 11 x 11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
the mean SSIM map over the valid window positions) and the silhouette IoU (foreground where
a pixel exceeds ``threshold``): the issue's network-free second task (c).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "psnr_of_mse", "silhouette_iou", "ssim"]

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
MAX_PSNR_DB = 100.0              # a perfect reconstruction's PSNR (not infinity)


def psnr(x: Tensor, x_hat: Tensor) -> Tensor:
    """10 log10(1 / MSE) per image, peak 1 (capped at :data:`MAX_PSNR_DB`)."""
    mse = (x.float() - x_hat.float()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-MAX_PSNR_DB / 10))))


def _window(channels: int) -> Tensor:
    r = torch.arange(SSIM_WINDOW, dtype=torch.float32) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-r ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean SSIM per image (data range 1)."""
    x, y = x.float(), x_hat.float()
    c = x.shape[1]
    w = _window(c)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, w, groups=c)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def silhouette_iou(x: Tensor, x_hat: Tensor, threshold: float = 0.1) -> Tensor:
    """IoU of the foregrounds (pixels above ``threshold``) per image; 1 where both are empty."""
    a, b = (x > threshold).flatten(1), (x_hat > threshold).flatten(1)
    inter, union = (a & b).sum(1).float(), (a | b).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def psnr_of_mse(mse: float) -> float:
    """PSNR (dB, peak 1) of a mean squared error."""
    return 10 * math.log10(1.0 / max(mse, 1e-10))

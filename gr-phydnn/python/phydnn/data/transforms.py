"""Normalisation and augmentation written in torch, batched (no torchvision).

The usual recipes: pad-4 random crop + horizontal flip for CIFAR, pad-2 random crop + flip
for Fashion-MNIST, nothing for digits. Augmentations work on float batches (N, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from phydnn.errors import ConfigError

__all__ = ["normalize", "random_crop", "random_hflip", "augment_batch", "AUGMENTATIONS"]

AUGMENTATIONS = {"none": (0, False), "crop2+flip": (2, True), "crop4+flip": (4, True)}


def normalize(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 (N, C, H, W) -> float32 (x/255 - mean) / std, per channel."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.to(torch.float32) / 255.0 - m) / s


def random_crop(x: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad by ``padding`` and crop back to the original size at a random offset per image."""
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    offs = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    rows = offs[:, 0, None] + torch.arange(h)  # (N, H)
    cols = offs[:, 1, None] + torch.arange(w)  # (N, W)
    idx_n = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def augment_batch(x: Tensor, recipe: str, generator: torch.Generator | None = None) -> Tensor:
    """Apply the named augmentation recipe (see ``AUGMENTATIONS``) to a float batch."""
    if recipe not in AUGMENTATIONS:
        raise ConfigError(f"augment={recipe!r} is not allowed; choose one of: "
                          f"{', '.join(AUGMENTATIONS)}")
    padding, flip = AUGMENTATIONS[recipe]
    x = random_crop(x, padding, generator)
    return random_hflip(x, generator) if flip else x

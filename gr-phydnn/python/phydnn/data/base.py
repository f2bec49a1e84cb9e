"""The in-memory image dataset every loader returns, and its normalisation statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from phydnn.errors import DatasetNotFoundError

__all__ = ["ImageDataset", "require_files"]


def require_files(paths: list[Path], name: str, how_to_get: str) -> None:
    """Raise one clear DatasetNotFoundError naming the first missing file and the remedy."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFoundError(f"{name} not found: {missing[0]} is missing. {how_to_get}")


@dataclass
class ImageDataset:
    """Images as uint8 ``(N, C, H, W)``, labels as int64 ``(N,)``, plus what a model card needs.

    ``mean`` and ``std`` are per-channel statistics of the *training* split in [0, 1] units;
    both splits of a dataset carry the same values so that normalisation is consistent.
    """

    name: str
    split: str
    images: Tensor
    labels: Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str = "none"
    source: str = field(default="")

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must have one entry per image")
        self.labels = self.labels.to(torch.int64)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, n: int) -> ImageDataset:
        """The first ``n`` images (all if n exceeds the size)."""
        return ImageDataset(self.name, self.split, self.images[:n], self.labels[:n],
                            self.classes, self.mean, self.std, self.augment, self.source)

    def card(self) -> dict:
        """What a model card records about the data: name, shape, classes, normalisation."""
        return {"dataset": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "classes": self.classes,
                "mean": list(self.mean), "std": list(self.std), "augment": self.augment}


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    x = images.to(torch.float64) / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)

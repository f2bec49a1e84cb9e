"""scikit-learn's handwritten digits (8x8, 1797 images): small data for fast tests and demos.

Pixel values 0..16 are rescaled to 0..255. A fixed, stratified split keeps 360 test images.
"""

from __future__ import annotations

import numpy as np
import torch

from phydnn.data.base import ImageDataset
from phydnn.errors import DatasetNotFoundError, check_choice

__all__ = ["load_digits"]

MEAN, STD = (0.3054,), (0.3758,)
TEST_PER_CLASS = 36


def load_digits(split: str = "train") -> ImageDataset:
    """Digits 0-9 as (N, 1, 8, 8) uint8; 'test' holds 36 images of each class."""
    check_choice("split", split, ("train", "test"))
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # pragma: no cover - setup installs scikit-learn
        raise DatasetNotFoundError(
            "the digits dataset needs scikit-learn: run 'pip install scikit-learn'") from exc
    bunch = sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test[rng.choice(idx, TEST_PER_CLASS, replace=False)] = True
    keep = test if split == "test" else ~test
    return ImageDataset("digits", split, torch.from_numpy(images[keep]).unsqueeze(1),
                        torch.from_numpy(labels[keep]), [str(d) for d in range(10)], MEAN, STD,
                        augment="none", source="sklearn.datasets.load_digits")

"""Datasets by name, so that the CLI and the blocks pick them the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from phydnn.data.base import ImageDataset
from phydnn.data.cifar import load_cifar
from phydnn.data.digits import load_digits
from phydnn.data.fashion_mnist import load_fashion_mnist
from phydnn.errors import check_choice

__all__ = ["DATASETS", "load_dataset"]

DATASETS: dict[str, Callable[[str, Path | None], ImageDataset]] = {
    "fashion-mnist": lambda split, root: load_fashion_mnist(split, root),
    "digits": lambda split, root: load_digits(split),
    "cifar10": lambda split, root: load_cifar("cifar10", split, root),
    "cifar100": lambda split, root: load_cifar("cifar100", split, root),
}


def load_dataset(name: str, split: str = "train", root: str | Path | None = None) -> ImageDataset:
    """Load dataset ``name`` ('fashion-mnist', 'digits', 'cifar10', 'cifar100')."""
    check_choice("dataset", name, DATASETS)
    return DATASETS[name](split, Path(root) if root else None)

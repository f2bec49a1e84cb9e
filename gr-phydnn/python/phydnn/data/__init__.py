"""Datasets without downloads or torchvision: Fashion-MNIST (Debian), digits (scikit-learn),
CIFAR-10/100 (a local folder), plus batched torch transforms."""

from phydnn.data.base import ImageDataset
from phydnn.data.cifar import load_cifar
from phydnn.data.digits import load_digits
from phydnn.data.fashion_mnist import load_fashion_mnist
from phydnn.data.loader import image_batches, iterate_batches, num_batches
from phydnn.data.registry import DATASETS, load_dataset
from phydnn.data.transforms import augment_batch, normalize

__all__ = [
    "DATASETS",
    "ImageDataset",
    "augment_batch",
    "image_batches",
    "iterate_batches",
    "load_cifar",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "normalize",
    "num_batches",
]

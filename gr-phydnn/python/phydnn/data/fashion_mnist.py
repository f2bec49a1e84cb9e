"""Fashion-MNIST (Xiao et al., 2017) from Debian's package dataset-fashion-mnist.

The four IDX files (gzip) live in /usr/share/datasets/fashion-mnist; ``PHYDNN_FASHION_MNIST``
or the ``root`` argument point elsewhere. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from phydnn.data.base import ImageDataset, require_files
from phydnn.errors import DatasetNotFoundError, check_choice

__all__ = ["load_fashion_mnist", "read_idx", "FASHION_MNIST_ROOT"]

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
# Training-split statistics, fixed so that test-time normalisation never depends on the test set.
MEAN, STD = (0.286,), (0.353,)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one (optionally gzipped) IDX file into a numpy array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetNotFoundError(f"{path} is not an IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=_IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetNotFoundError(f"{path} is truncated: expected {dims}, got {arr.size} values")
    return arr.reshape(dims)


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> ImageDataset:
    """Load the 60000 training or 10000 test images, 28x28 grey, 10 classes."""
    check_choice("split", split, FILES)
    root = Path(root or os.environ.get("PHYDNN_FASHION_MNIST", FASHION_MNIST_ROOT))
    paths = [root / f for f in FILES[split]]
    require_files(paths, "Fashion-MNIST",
                  "Install it with 'apt-get install dataset-fashion-mnist' (Debian), or set "
                  "PHYDNN_FASHION_MNIST to a folder holding the four IDX .gz files.")
    images = torch.from_numpy(read_idx(paths[0]).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(paths[1]).astype(np.int64))
    return ImageDataset("fashion-mnist", split, images, labels, CLASSES, MEAN, STD,
                        augment="crop2+flip", source=str(root))

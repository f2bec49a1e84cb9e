"""CIFAR-10 and CIFAR-100 from a local folder in the standard python-pickle layout.

``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` and
``cifar-100-python/{train,test,meta}``, as distributed by the dataset's authors. The files are
pickles, so they are read with an unpickler that only admits plain containers and numpy arrays:
a crafted file cannot run code. Nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phydnn.data.base import ImageDataset, require_files
from phydnn.errors import check_choice

__all__ = ["load_cifar", "safe_unpickle"]

STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)),
         "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
LAYOUT = {
    "cifar10": ("cifar-10-batches-py",
                {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                "batches.meta", b"label_names", b"labels"),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]},
                 "meta", b"fine_label_names", b"fine_labels"),
}
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def safe_unpickle(path: Path) -> Any:
    """Unpickle ``path`` admitting only containers, strings/bytes and numpy arrays."""
    with open(path, "rb") as f:
        return _RestrictedUnpickler(io.BytesIO(f.read()), encoding="bytes").load()


def default_root() -> Path:
    """$PHYDNN_CIFAR_ROOT, else ~/datasets: the folder that holds the extracted archives."""
    return Path(os.environ.get("PHYDNN_CIFAR_ROOT", Path.home() / "datasets"))


def load_cifar(name: str = "cifar10", split: str = "train",
               root: str | Path | None = None) -> ImageDataset:
    """Load CIFAR-10 or CIFAR-100 (fine labels) as (N, 3, 32, 32) uint8 images."""
    check_choice("dataset", name, LAYOUT)
    check_choice("split", split, ("train", "test"))
    folder, files, meta_file, names_key, labels_key = LAYOUT[name]
    base = Path(root) if root is not None else default_root()
    if base.name == folder:  # the user pointed at the extracted folder itself
        base = base.parent
    paths = [base / folder / f for f in files[split]] + [base / folder / meta_file]
    require_files(paths, name,
                  f"Extract the python version of the archive ({folder}/) into {base} or pass "
                  f"--data-root / set PHYDNN_CIFAR_ROOT to the folder that contains {folder}/. "
                  f"gr-phydnn never downloads data.")
    images, labels = [], []
    for p in paths[:-1]:
        batch = safe_unpickle(p)
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[labels_key], dtype=np.int64))
    meta = safe_unpickle(paths[-1])
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta[names_key]]
    mean, std = STATS[name]
    return ImageDataset(name, split, torch.from_numpy(np.concatenate(images)),
                        torch.from_numpy(np.concatenate(labels)), classes, mean, std,
                        augment="crop4+flip", source=str(base / folder))

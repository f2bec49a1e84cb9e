"""Mini-batches of normalised (and optionally augmented) images from an ImageDataset.

A plain iterator over in-memory tensors: the datasets here fit in memory, and batching by
index is faster on two cores than a DataLoader with workers. ``rank``/``world_size`` shard
the (shuffled) order for DDP so every rank sees a disjoint, equally long slice.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from phydnn.data.base import ImageDataset
from phydnn.data.transforms import augment_batch, normalize
from phydnn.errors import check_positive

__all__ = ["iterate_batches", "num_batches"]


def num_batches(n: int, batch_size: int, world_size: int = 1, drop_last: bool = False) -> int:
    """How many batches one rank sees per epoch."""
    per_rank = n // world_size
    return per_rank // batch_size if drop_last else -(-per_rank // batch_size)


def iterate_batches(data: ImageDataset, batch_size: int, shuffle: bool = False,
                    augment: bool = False, generator: torch.Generator | None = None,
                    rank: int = 0, world_size: int = 1,
                    drop_last: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (images float32 normalised, labels int64) batches."""
    check_positive("batch_size", batch_size, integer=True)
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    per_rank = n // world_size if world_size > 1 else n
    order = order[rank * per_rank:(rank + 1) * per_rank]
    for b in range(num_batches(n, batch_size, world_size, drop_last)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        x = normalize(data.images[idx], data.mean, data.std)
        if augment:
            x = augment_batch(x, data.augment, generator)
        yield x, data.labels[idx]

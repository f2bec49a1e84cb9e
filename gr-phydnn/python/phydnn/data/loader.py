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
from phydnn.errors import ConfigError, check_positive

__all__ = ["check_image_batches", "image_batches", "iterate_batches", "num_batches"]


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


def check_image_batches(batch_size: int, n_images: int) -> None:
    """Refuse settings of :func:`image_batches` that are not allowed, naming them."""
    check_positive("batch_size", batch_size, integer=True)
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
        raise ConfigError(f"n_images={n_images!r} is not allowed; it must be a non-negative "
                          f"integer (0: the whole split)")


def image_batches(data: ImageDataset, batch_size: int,
                  n_images: int = 0) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Yield (batch_id, uint8 images, labels) over the first ``n_images`` (0: all) in order;
    beyond the split's size the split repeats (image ``i`` is ``i mod len(data)``), so a
    link can run as long as asked.

    The raw pixels travel on the link's input side: the TX head normalises with its own
    model card, so a source never needs to know which model will consume it.
    """
    check_image_batches(batch_size, n_images)
    n = len(data) if n_images == 0 else n_images
    for batch_id, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        if stop <= len(data):
            yield batch_id, data.images[start:stop], data.labels[start:stop]
        else:
            idx = torch.arange(start, stop) % len(data)
            yield batch_id, data.images[idx], data.labels[idx]

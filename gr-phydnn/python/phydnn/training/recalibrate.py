"""Batch-norm recalibration of the tail for the link it will serve.

The running statistics that the tail uses at inference come, during training, from the
Gumbel-sampled (Eq. 7), augmented training batches: close to, but not the same as, what the
receiver sees at inference (argmax embeddings, plain images). Before a model is saved its
tail statistics are re-estimated, as a cumulative average, over training images sent through
the inference link (transmit -> the training channel, AWGN or ``channel``, at the training
Es/N0 range -> hard or soft lookup).
Only statistics change; no weight moves.
"""

from __future__ import annotations

import torch

from phydnn.data import ImageDataset, iterate_batches
from phydnn.models.modes import batchnorm_layers, eval_mode
from phydnn.phy.channel_spec import ChannelSpec, through

__all__ = ["recalibrate_tail_batchnorm"]


@torch.no_grad()
def recalibrate_tail_batchnorm(model, data: ImageDataset, snr_db: float, spread_db: float,
                               soft_fraction: float, images: int = 10_000,
                               batch_size: int = 500, seed: int = 0,
                               channel: ChannelSpec | None = None) -> int:
    """Re-estimate the tail's batch-norm statistics over ``images`` training images sent at
    Es/N0 ~ U[snr - spread, snr + spread] dB; returns the number of images used.

    A share ``soft_fraction`` of the batches uses the soft (posterior) lookup, as in training.
    Deterministic for a given ``seed``, so DDP ranks stay identical.
    """
    gen = torch.Generator().manual_seed(seed)
    layers = batchnorm_layers(model.tail)
    saved = [m.momentum for m in layers]
    used = 0
    with eval_mode(model):
        for m in layers:
            m.reset_running_stats()
            m.momentum = None                         # cumulative average over all batches
            m.train()
        try:
            for x, _ in iterate_batches(data.subset(min(images, len(data))), batch_size,
                                        shuffle=True, generator=gen):
                snr = snr_db + (torch.rand(len(x), generator=gen) * 2 - 1) * spread_db
                nv = (10.0 ** (-snr / 10.0)).view(-1, 1, 1)
                sym = model.constellation.modulate(model.transmit(x))
                soft = bool(torch.rand((), generator=gen) < soft_fraction)
                model.receive(*through(channel, sym, nv, gen), "soft" if soft else "hard")
                used += len(x)
        finally:
            for m, mom in zip(layers, saved, strict=True):
                m.momentum = mom
    return used

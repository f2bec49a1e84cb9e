"""The link without GNU Radio: a codec's transmitter and receiver around the same payload
mapping (:mod:`phydnn.link.payload`) over AWGN at the data symbols, the reference that the
GNU Radio loopback must match (no framing, sync or segment loss; every symbol's noise
variance known). For PhyDNN this is the torch path of ``phydnn eval`` (same channel, same
receiver), whatever the codec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from phydnn.codecs.base import Receiver, Transmitter
from phydnn.data import ImageDataset
from phydnn.link.endpoints import RxTail, TxHead
from phydnn.link.payload import map_values, unmap_symbols
from phydnn.phy.channel import snr_db_to_noise_var

__all__ = ["simulate_link", "simulate_sides"]


def simulate_link(model: str | Path | tuple[TxHead, RxTail], data: ImageDataset,
                  snr_db: float, receiver: str = "soft", batch_size: int = 500,
                  seed: int = 0) -> float:
    """Accuracy of ``model``'s codec (a bundle, or its two ends already loaded: then
    ``receiver`` is theirs) on ``data`` at Es/N0 = ``snr_db`` (one seeded draw); the
    transmitter is told the Es/N0 (:meth:`~phydnn.codecs.Transmitter.adapt`)."""
    tx, rx = model if isinstance(model, tuple) else (TxHead(model), RxTail(model, receiver))
    tx.side.adapt(float(snr_db))
    return simulate_sides(tx.side, rx.side, data, snr_db, batch_size, seed)


def simulate_sides(tx: Transmitter, rx: Receiver, data: ImageDataset, snr_db: float,
                   batch_size: int = 500, seed: int = 0,
                   before_batch: Callable[[np.random.Generator], None] | None = None
                   ) -> float:
    """Accuracy of a codec's two sides (as they are: no adaptation) on ``data`` over AWGN at
    Es/N0 = ``snr_db`` (dB; ``inf``: no noise), one seeded draw. ``before_batch`` (given the
    draw's generator) runs before each batch is encoded: e.g. feedback telling the
    transmitter the channel anew."""
    rng = np.random.default_rng(seed)
    nv = snr_db_to_noise_var(float(snr_db)) if math.isfinite(snr_db) else 0.0
    correct = 0
    for start in range(0, len(data), batch_size):
        if before_batch is not None:
            before_batch(rng)
        images = data.images[start:start + batch_size].numpy()
        sent = tx.encode(images)
        sym = map_values(tx.spec, sent.values)
        noise = (rng.standard_normal(sym.shape) + 1j * rng.standard_normal(sym.shape))
        y = (sym + noise * np.sqrt(nv / 2)).astype(np.complex64)
        payload = unmap_symbols(rx.spec, y, np.full(y.shape, max(nv, 1e-6), np.float32),
                                sent.values.shape[1], sent.codec_field)
        labels = rx.decode(payload).labels
        correct += int((labels == data.labels[start:start + batch_size].numpy()).sum())
    return correct / len(data)

"""Paper 003's Table III on this machine: PhyDNN beside DT-JSCC on the same PHY, measured in
one run: the device's parameters and MACs, bytes per batch of 64 images, the head's compute
time on this CPU, and accuracy at one Es/N0 on the simulated link (no GNU Radio) and through
the GNU Radio loopback (the demo's offsets) on the same test images."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["PAPER_TABLE_III", "codec_table"]

# paper 003 Table III (CIFAR-10; PhyDNN on ResNet-56), for scale
PAPER_TABLE_III = [
    {"model": "paper 003: DT-JSCC (CIFAR-10)", "head_params": 4_360_000,
     "head_macs": 618_400_000, "bytes_per_64": 41_700, "torch": None, "loopback": 0.8222},
    {"model": "paper 003: PhyDNN, ResNet-56 (CIFAR-10)", "head_params": 42_500,
     "head_macs": 291_650_000, "bytes_per_64": 16_000, "torch": None, "loopback": 0.8043},
]


def _head_time(tx, images: np.ndarray, repeats: int) -> float:
    """Median seconds of the transmitter on one batch (after one warm-up batch)."""
    tx.encode_payload(images)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tx.encode_payload(images)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def codec_row(model: str, snr_db: float, images: int, repeats: int = 20) -> dict[str, Any]:
    """One codec's row (its default receiver: PhyDNN soft, DT-JSCC hard)."""
    from phydnn.bench.latency import loopback_accuracy
    from phydnn.checkpoint import load_card
    from phydnn.codecs import get_codec
    from phydnn.codecs.bundles import card_codec
    from phydnn.data import load_dataset
    from phydnn.link import RxTail, TxHead
    from phydnn.link.simulate import simulate_link

    card = load_card(model)
    codec = card_codec(card)
    receiver = getattr(get_codec(codec), "default_receiver", "soft")
    tx, rx = TxHead(model), RxTail(model, receiver)
    test = load_dataset(card["dataset"], "test")
    batch = test.images[:64].numpy()
    params, macs = tx.side.complexity()
    values = tx.encode(batch).shape[1]
    loop = loopback_accuracy(model, [snr_db], images, (receiver,))[f"{float(snr_db):.1f}"]
    return {"model": model.rsplit("/", 1)[-1], "codec": codec, "receiver": receiver,
            "head_params": params, "head_macs": macs,
            "bytes_per_64": 64 * values * tx.bits_per_symbol / 8,
            "head_ms": _head_time(tx, batch, repeats) * 1e3,
            "torch": simulate_link((tx, rx), test.subset(images), snr_db),
            "torch_full": simulate_link((tx, rx), test, snr_db),
            "loopback": loop[receiver], "delivery": loop["delivery"], "images": images}


def codec_table(models: list[str], snr_db: float, images: int) -> list[dict[str, Any]]:
    return [codec_row(m, snr_db, images) for m in models]

"""Accuracy of a classifier on a dataset, batched, without gradients."""

from __future__ import annotations

import torch
from torch import nn

from phydnn.data import ImageDataset, iterate_batches
from phydnn.models.context import adjacent_pair_counts
from phydnn.models.modes import eval_mode
from phydnn.phy.channel_spec import ChannelSpec, through

__all__ = ["accuracy", "codebook_usage", "link_accuracy", "predict", "source_statistics"]


@torch.no_grad()
def predict(model: nn.Module, data: ImageDataset, batch_size: int = 500,
            device: str = "cpu") -> torch.Tensor:
    """Predicted labels for every image of ``data`` (model in eval mode)."""
    with eval_mode(model):
        preds = [model(x.to(device)).argmax(1).cpu()
                 for x, _ in iterate_batches(data, batch_size)]
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)


def accuracy(model: nn.Module, data: ImageDataset, batch_size: int = 500,
             device: str = "cpu") -> float:
    """Top-1 accuracy in [0, 1]."""
    return float((predict(model, data, batch_size, device) == data.labels).float().mean())


@torch.no_grad()
def link_accuracy(model, data: ImageDataset, snrs_db: list[float],
                  receivers: tuple[str, ...] = ("hard", "soft"), batch_size: int = 500,
                  seed: int = 0, device: str = "cpu",
                  channel: ChannelSpec | None = None) -> dict[str, dict[str, float]]:
    """Accuracy of a PhyDNN over the torch link (transmit -> channel -> receive) per SNR;
    the channel is AWGN unless ``channel`` names another (Es/N0 then is its average).

    The head runs once per batch; every (SNR, receiver) pair reuses the transmitted points
    and draws its noise from a generator of its own, seeded from ``seed`` and the SNR, so the
    figure at one SNR does not depend on which other SNRs are in the sweep.
    Returns {"12.0": {"hard": acc, "soft": acc}, ...}.
    """
    from phydnn.phy import snr_db_to_noise_var

    gens = {s: torch.Generator(device=device).manual_seed(seed * 100_003 + round(s * 1000))
            for s in snrs_db}
    correct = {(s, r): 0 for s in snrs_db for r in receivers}
    from phydnn.training.progress import progress

    batches = progress(iterate_batches(data, batch_size), total=-(-len(data) // batch_size),
                       desc=f"link accuracy at {len(snrs_db)} Es/N0", unit="batch")
    with eval_mode(model):
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            sym = model.constellation.modulate(model.transmit(x))
            for snr in snrs_db:
                nv = snr_db_to_noise_var(float(snr))
                received, nv_sym = through(channel, sym, nv, gens[snr])
                for r in receivers:
                    pred = model.receive(received, nv_sym, r).argmax(1)
                    correct[(snr, r)] += int((pred == y).sum())
    n = max(len(data), 1)
    table: dict[str, dict[str, float]] = {}
    for (s, r), c in correct.items():
        table.setdefault(f"{float(s):.1f}", {})[r] = c / n
    return table


def codebook_usage(model, data: ImageDataset, batch_size: int = 500,
                   device: str = "cpu") -> torch.Tensor:
    """How often each embedding is the TX choice (argmax) over ``data`` (Sec. III-C pruning)."""
    return source_statistics(model, data, batch_size, device)[0]


@torch.no_grad()
def source_statistics(model, data: ImageDataset, batch_size: int = 500,
                      device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """What the transmitter sends over ``data``: embedding usage counts (M,) and counts of
    adjacent embedding pairs (2, M, M), the soft receiver's source model."""
    usage = torch.zeros(model.order, dtype=torch.int64)
    pairs = torch.zeros(2, model.order, model.order, dtype=torch.int64)
    with eval_mode(model):
        for x, _ in iterate_batches(data, batch_size):
            idx = model.encode(x.to(device)).argmax(-1).cpu()
            usage += torch.bincount(idx.flatten(), minlength=model.order)
            pairs += adjacent_pair_counts(idx, model.order)
    return usage, pairs

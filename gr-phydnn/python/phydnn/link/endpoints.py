"""The two ends of the link around the model, as the GNU Radio blocks use them (core: no GNU
Radio). :class:`TxHead` turns raw image batches into PSK point indices (head H, embedding
layer Eq. 2, map pi; paper 003 Sec. III-B); :class:`RxTail` turns a reassembled batch of
received symbols into class probabilities (hard or soft demodulation, embedding lookup,
tail T; DESIGN.md data flow).

Erased positions (segments that never arrived) still get an embedding, so every image gets a
prediction, flagged partial (DESIGN.md "Missing segments"): the hard receiver looks up the
prior-weighted mean of the codebook (how often the transmitter sends each embedding; uniform
for a bundle without one); the soft receiver's posterior there is what the received
neighbours of the position make likely (:mod:`phydnn.models.context`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from phydnn.data.transforms import normalize
from phydnn.errors import ConfigError, check_choice
from phydnn.link.segment import ReceivedBatch
from phydnn.models.bundle import load_phydnn

__all__ = ["RECEIVERS", "Prediction", "RxTail", "TxHead"]

RECEIVERS = ("hard", "soft")


class _Endpoint:
    def __init__(self, model_path: str | Path, threads: int = 0) -> None:
        if threads:
            torch.set_num_threads(int(threads))
        self.model, self.card = load_phydnn(model_path)
        self.path = str(model_path)

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint()

    @property
    def order(self) -> int:
        return self.model.order

    @property
    def bits_per_symbol(self) -> int:
        return self.model.bits_per_symbol

    @property
    def positions(self) -> int:
        return self.model.positions_per_image

    @property
    def constellation(self) -> np.ndarray:
        """The M PSK points (complex64), index = point index on air."""
        return self.model.constellation.points.numpy().astype(np.complex64)


class TxHead(_Endpoint):
    """Head + embedding + map of a PhyDNN bundle, on uint8 image batches."""

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 pixels -> (N, H', W') uint8 point indices."""
        shape = tuple(self.card["input_shape"])
        if images.ndim != 4 or tuple(images.shape[1:]) != shape:
            raise ConfigError(f"image shape {tuple(images.shape[1:])} does not match the "
                              f"model {self.path}, which takes {shape}")
        x = normalize(torch.from_numpy(np.ascontiguousarray(images)), tuple(self.card["mean"]),
                      tuple(self.card["std"]))
        return self.model.transmit(x).numpy().astype(np.uint8)


@dataclass
class Prediction:
    batch_id: int
    labels: np.ndarray           # predicted class per image
    probabilities: np.ndarray    # (N, classes) float32
    partial: np.ndarray          # per image: some of its positions were erased


class RxTail(_Endpoint):
    """Demodulation, embedding lookup and tail of a PhyDNN bundle."""

    def __init__(self, model_path: str | Path, receiver: str = "soft", threads: int = 0) -> None:
        check_choice("receiver", receiver, RECEIVERS)
        super().__init__(model_path, threads)
        self.receiver = receiver

    def weights(self, symbols: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """Weights over the M embeddings (N, H', W', M) for symbols (N, H', W') with NaN where
        erased: one-hot, or the prior where erased (hard); the model's posterior (soft)."""
        erased = torch.isnan(symbols.real)
        sym = torch.where(erased, torch.zeros_like(symbols), symbols)
        nv = torch.where(torch.isnan(noise_var) | (noise_var <= 0),
                         torch.ones_like(noise_var), noise_var)
        model = self.model
        if self.receiver == "soft":
            return model.posterior(sym, nv, erased)
        w = torch.nn.functional.one_hot(model.decide(sym), self.order).float()
        return torch.where(erased.unsqueeze(-1), model.prior.expand_as(w), w)

    @torch.no_grad()
    def classify(self, batch: ReceivedBatch) -> Prediction:
        """Class probabilities for every image of ``batch``."""
        h, w = self.model.feature_shape[1:]
        sym = torch.from_numpy(batch.symbols).reshape(batch.n_images, h, w)
        nv = torch.from_numpy(batch.noise_var).reshape(batch.n_images, h, w)
        weights = self.weights(sym, nv)
        logits = self.model.tail(self.model.codebook.lookup(weights))
        probs = torch.softmax(logits, 1)
        return Prediction(batch.batch_id, probs.argmax(1).numpy().astype(np.int32),
                          probs.numpy().astype(np.float32), batch.erased())

"""PhyDNN (paper 003) as a codec: ``psk`` payload, one M-PSK point per spatial position of
the head's output (Sec. III-B). TX: head H -> embedding scores (Eq. 2) -> argmax -> map pi.
RX: hard (nearest point, pi^-1, Sec. III-A) or soft (posterior with the transmitter's source
model, :mod:`phydnn.models.context`) embedding weights -> codebook lookup -> tail T.

Erased positions (segments that never arrived) still get an embedding, so every image gets a
prediction (DESIGN.md "Missing segments"): the hard receiver looks up the prior-weighted
codebook mean; the soft receiver's posterior there is what the received neighbours make
likely. The TX bundle holds head, codebook and map; the RX bundle codebook, map, source model
and tail; both rebuild the network from the card and check the fingerprint (hash of codebook
and map) against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from phydnn.codecs.base import (
    Codec,
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
)
from phydnn.codecs.registry import register_codec
from phydnn.errors import CheckpointError, check_choice
from phydnn.models.backends import runner as model_runner
from phydnn.models.bundle import phydnn_from_state
from phydnn.models.complexity import count_macs, count_params
from phydnn.models.phydnn_net import RECEIVERS, PhyDNN, TailGraph, TransmitGraph

__all__ = ["PhyDNNCodec", "build_from_card"]


def build_from_card(state: dict[str, torch.Tensor], card: dict[str, Any],
                    keys: tuple[str, ...]) -> PhyDNN:
    """The PhyDNN a card describes, with the weights under ``keys`` loaded
    (:func:`~phydnn.models.bundle.phydnn_from_state`), checked against the card's
    fingerprint."""
    model = phydnn_from_state(state, card, card["path"], keys)
    if card.get("fingerprint") and model.fingerprint() != card["fingerprint"]:
        raise CheckpointError(f"{card['path']}: the weights' fingerprint "
                              f"{model.fingerprint()} is not the card's {card['fingerprint']}")
    return model


class PhyDNNTransmitter(Transmitter):
    def __init__(self, model: PhyDNN, card: dict[str, Any]) -> None:
        super().__init__(card, PhyDNNCodec.payload_spec(card))
        self.model = model
        self.backend = "eager"
        self._run = model.transmit

    def set_backend(self, backend: str, threads: int = 0) -> None:
        """Run the head (with the embedding scores, argmax and map: TransmitGraph) by
        ``backend``; the point indices are the same (phydnn bench checks them on the test
        set)."""
        example = torch.zeros(1, *self.card["input_shape"])
        self._run = model_runner(self.graph(), example, backend, threads)
        self.backend = backend

    def graph(self) -> TransmitGraph:
        """Images -> point indices (int64): head, embedding scores, argmax, map."""
        return TransmitGraph(self.model)

    def encode_tensor(self, x: torch.Tensor) -> TxPayload:
        return TxPayload(self._run(x).numpy().astype(np.uint8), 0)

    def complexity(self) -> tuple[int, int]:
        """Head and codebook; MACs of the head plus the embedding scores (Eq. 2)."""
        m = self.model
        macs, _ = count_macs(m.head, tuple(self.card["input_shape"]))
        c, h, w = m.feature_shape
        return count_params(m.head) + count_params(m.codebook), macs + h * w * m.order * c


class PhyDNNReceiver(Receiver):
    def __init__(self, model: PhyDNN, card: dict[str, Any], receiver: str = "soft") -> None:
        super().__init__(card, PhyDNNCodec.payload_spec(card))
        self.model, self.receiver = model, check_choice("receiver", receiver, RECEIVERS)
        self.backend = "eager"
        self._tail = TailGraph(model)

    def set_backend(self, backend: str, threads: int = 0) -> None:
        """Run the codebook lookup and the tail (TailGraph) by ``backend``; the demodulation
        (likelihoods, the source model's posterior) stays in torch."""
        c, h, w = self.model.feature_shape
        example = torch.zeros(1, h, w, self.model.order)
        self._tail = model_runner(TailGraph(self.model), example, backend, threads)
        self.backend = backend

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        return self.model.positions_per_image

    def weights(self, symbols: torch.Tensor, noise_var: torch.Tensor,
                erased: torch.Tensor) -> torch.Tensor:
        """Weights over the M embeddings (N, H', W', M): one-hot, or the prior where erased
        (hard); the model's posterior (soft)."""
        model = self.model
        if self.receiver == "soft":
            return model.posterior(symbols, noise_var, erased)
        w = torch.nn.functional.one_hot(model.decide(symbols), model.order).float()
        return torch.where(erased.unsqueeze(-1), model.prior.expand_as(w), w)

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        h, w = self.model.feature_shape[1:]
        shape = (payload.n_images, h, w)
        sym = torch.from_numpy(payload.values.astype(np.complex64)).reshape(shape)
        nv = torch.from_numpy(payload.noise_var.astype(np.float32)).reshape(shape)
        erased = torch.from_numpy(payload.erased).reshape(shape)
        logits = self._tail(self.weights(sym, nv, erased))
        return CodecOutput(torch.softmax(logits, 1).numpy().astype(np.float32))


@register_codec("phydnn", codec_id=1)
class PhyDNNCodec(Codec):
    tx_keys = ("head.", "codebook.", "pi")
    rx_keys = ("tail.", "codebook.", "pi", "prior", "pairs")

    @classmethod
    def payload_spec(cls, card: dict[str, Any]) -> PayloadSpec:
        return PayloadSpec("psk", int(np.log2(int(card["M"])))).check()

    @classmethod
    def transmitter(cls, state, card) -> PhyDNNTransmitter:
        return PhyDNNTransmitter(build_from_card(state, card, cls.tx_keys), card)

    @classmethod
    def receiver(cls, state, card, receiver: str = "soft") -> PhyDNNReceiver:
        return PhyDNNReceiver(build_from_card(state, card, cls.rx_keys), card, receiver)

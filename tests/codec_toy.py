"""A codec that exists only in the tests (registered here, nothing else in the package knows
it): each image is average-pooled to 7 x 7, each pooled value quantised to 2 bits (4 levels)
and sent as a ``bits`` payload on QPSK; the receiver takes the LLRs' hard bits back to
levels and picks the nearest class centroid (the centroids are the bundle's weights,
computed from training images by :func:`make_bundle`). It proves that the link, the blocks
and the flowgraphs carry a codec they were never written for.

Subprocesses find it through ``PHYDNN_CODECS=codec_toy`` with this folder on PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from phydnn.checkpoint import save_bundle
from phydnn.codecs import (
    Codec,
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
    register_codec,
)
from phydnn.codecs.e2e import state_fingerprint
from phydnn.data import load_dataset

LEVELS = torch.tensor([-1.0, 0.0, 1.0, 2.0])     # normalised-pixel levels of the 2-bit code
CODEC_ID = 200


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 4).flatten(1)                       # (N, 49)


def _bits(level: torch.Tensor) -> torch.Tensor:
    return torch.stack((level // 2, level % 2), -1).flatten(1).to(torch.uint8)


class ToyTransmitter(Transmitter):
    def encode_tensor(self, x: torch.Tensor) -> TxPayload:
        level = (_pool(x).unsqueeze(-1) - LEVELS).abs().argmin(-1)
        return TxPayload(_bits(level).numpy(), 0)


class ToyReceiver(Receiver):
    def __init__(self, centroids: torch.Tensor, card: dict) -> None:
        super().__init__(card, ToyCodec.payload_spec(card))
        self.centroids = centroids

    def decode(self, payload: RxPayload) -> CodecOutput:
        bits = torch.from_numpy(payload.hard_bits().astype(np.int64)).view(-1, 49, 2)
        values = LEVELS[bits[..., 0] * 2 + bits[..., 1]]
        logits = -torch.cdist(values, self.centroids)
        return CodecOutput(torch.softmax(logits, 1).numpy().astype(np.float32))


@register_codec("toy-pool", codec_id=CODEC_ID)
class ToyCodec(Codec):
    tx_keys = ()
    rx_keys = ("centroids",)

    @classmethod
    def transmitter(cls, state, card) -> ToyTransmitter:
        return ToyTransmitter(card, cls.payload_spec(card))

    @classmethod
    def receiver(cls, state, card, receiver: str = "soft") -> ToyReceiver:
        return ToyReceiver(state["centroids"], card)


def make_bundle(path: str | Path, images: int = 6000) -> Path:
    """The toy codec's bundle: class centroids of the quantised pooled training images."""
    from phydnn.data import normalize

    train = load_dataset("fashion-mnist", "train").subset(images)
    x = normalize(train.images, train.mean, train.std)
    values = LEVELS[(_pool(x).unsqueeze(-1) - LEVELS).abs().argmin(-1)]
    centroids = torch.stack([values[train.labels == c].mean(0) for c in range(10)])
    card = {"kind": "codec", "codec": "toy-pool", "role": "full", **train.card(),
            "payload": PayloadSpec("bits", 2).as_dict(), "values_per_image": 98,
            "fingerprint": state_fingerprint({"centroids": centroids})}
    save_bundle(path, {"centroids": centroids}, card)
    return Path(path)

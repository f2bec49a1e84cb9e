"""The two ends of the link around a codec, as the GNU Radio blocks use them (core: no GNU
Radio). :class:`TxHead` turns raw image batches into a payload and the header fields that
describe it (the codec's transmitter side); :class:`RxTail` turns a reassembled batch of
received data symbols into class probabilities (the payload kind's demapping,
:mod:`phydnn.link.payload`, then the codec's receiver side). Neither knows which codec it
runs: the bundle's card names it (:mod:`phydnn.codecs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phydnn.codecs import load_receiver, load_transmitter
from phydnn.codecs.base import CodecOutput
from phydnn.link.header import HeaderError, PhyHeader
from phydnn.link.payload import constellation, symbols_per_image, unmap_symbols
from phydnn.link.segment import ReceivedBatch

__all__ = ["RECEIVERS", "Prediction", "RxTail", "TxHead"]

RECEIVERS = ("hard", "soft")


class _Endpoint:
    def __init__(self, side: Any, model_path: str | Path, backend: str = "eager",
                 threads: int = 0) -> None:
        self.side, self.path = side, str(model_path)
        self.spec = side.spec
        self.backend = backend          # phydnn.models.backends; the codec refuses one it
        if backend != "eager":          # has not wired
            side.set_backend(backend, threads)

    @property
    def fingerprint(self) -> str:
        return self.side.fingerprint

    @property
    def codec_id(self) -> int:
        return self.side.codec_id

    @property
    def bits_per_symbol(self) -> int:
        return self.spec.bits_per_symbol

    @property
    def order(self) -> int:
        """M of a psk or bits payload (0 for analog)."""
        return 1 << self.spec.bits_per_symbol if self.spec.kind != "analog" else 0

    @property
    def constellation(self) -> np.ndarray:
        """The M PSK points (complex64), index = point index on air (analog: none)."""
        return constellation(self.spec)

    @property
    def model(self) -> torch.nn.Module:
        """The codec's network (PhyDNN: the PhyDNN)."""
        model = getattr(self.side, "model", None)
        return model if model is not None else self.side.net


class TxHead(_Endpoint):
    """The transmitter side of a codec bundle, on uint8 image batches."""

    def __init__(self, model_path: str | Path, threads: int = 0, backend: str = "eager") -> None:
        if threads:
            torch.set_num_threads(int(threads))
        super().__init__(load_transmitter(model_path), model_path, backend, threads)

    def encode_payload(self, images: np.ndarray):
        """(N, C, H, W) uint8 pixels -> the batch's :class:`~phydnn.codecs.TxPayload`."""
        return self.side.encode(images)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 pixels -> the values (N, L) to send."""
        return self.encode_payload(images).values

    def header_fields(self) -> dict[str, Any]:
        """What the PHY header says of this transmitter's payload (segment_batch fields)."""
        return {"codec_id": self.codec_id, "kind": self.spec.kind,
                "pilot_spacing": self.spec.pilot_spacing}


@dataclass
class Prediction:
    batch_id: int
    labels: np.ndarray           # predicted class per image
    probabilities: np.ndarray    # (N, classes) float32
    partial: np.ndarray          # per image: some of its values were erased
    output: CodecOutput | None = None


class RxTail(_Endpoint):
    """The receiver side of a codec bundle: demapping, the codec's decoder."""

    def __init__(self, model_path: str | Path, receiver: str = "soft", threads: int = 0,
                 backend: str = "eager") -> None:
        if threads:
            torch.set_num_threads(int(threads))
        super().__init__(load_receiver(model_path, receiver=receiver), model_path, backend,
                         threads)
        self.receiver = receiver

    @property
    def positions(self) -> int:
        """Data symbols per image with codec field 0."""
        return self.symbols_per_image(0)

    def symbols_per_image(self, codec_field: int, n_images: int = 1) -> int:
        return symbols_per_image(self.spec, self.side.values_per_image(codec_field, n_images))

    def check(self, header: PhyHeader) -> int:
        """The data symbols per image a segment must carry, or HeaderError with the reason
        this receiver refuses it (``codec_field``)."""
        try:
            self.side.check_field(header.codec_field)
        except ValueError as err:
            raise HeaderError("codec_field", str(err)) from err
        return self.symbols_per_image(header.codec_field, header.n_images)

    def classify(self, batch: ReceivedBatch) -> Prediction:
        """Class probabilities for every image of ``batch``."""
        field = batch.header.codec_field if batch.header is not None else 0
        values = self.side.values_per_image(field, batch.n_images)
        sym = batch.symbols.reshape(batch.n_images, -1)
        nv = batch.noise_var.reshape(batch.n_images, -1)
        payload = unmap_symbols(self.spec, sym, nv, values, field)
        out = self.side.decode(payload)
        return Prediction(batch.batch_id, out.labels, out.probabilities, batch.erased(), out)

"""The codec interface: every task-oriented system of the papers is a codec over one link.

A codec has a transmitter side (the device: image batch in, a payload and a 16-bit codec
field out) and a receiver side (the edge server: the received payload with its noise variance
per value and its erasures in, class probabilities out). The link below it knows only
*payload kinds* (DESIGN.md "Codecs: one link, many systems"), never codecs:

    kind     values the transmitter hands the link      what the receiver gets back
    psk      M-PSK point indices (uint8)                 the normalised complex symbols
    analog   real values in [-1, 1] (float32), two per   the real values, noise variance per
             complex symbol, pilots every P symbols      real value
    bits     bits (uint8 0/1) on Gray BPSK / QPSK        LLRs log p(b=0|y)/p(b=1|y) (and hard
                                                         bits, LLR < 0)

Shapes are per batch: ``values`` (N, L) with L values per image (L may change from batch to
batch, e.g. with the channel, and is sent in the PHY header as symbols per image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from phydnn.data.transforms import normalize
from phydnn.errors import ConfigError, check_choice

__all__ = ["CODEC_FIELD_MAX", "KINDS", "Codec", "CodecOutput", "PayloadSpec", "Receiver",
           "RxPayload", "Transmitter", "TxPayload"]

KINDS = ("psk", "analog", "bits")
CODEC_FIELD_MAX = 0xFFFF


@dataclass(frozen=True)
class PayloadSpec:
    """What goes on air: the kind, bits per symbol (psk: log2 M; bits: 1 = BPSK, 2 = QPSK;
    analog: 0) and, for analog, one known pilot symbol before every ``pilot_spacing`` data
    symbols (and one after the last)."""

    kind: str
    bits_per_symbol: int = 0
    pilot_spacing: int = 0

    def check(self) -> PayloadSpec:
        if self.kind not in KINDS:
            raise ConfigError(f"payload kind {self.kind!r} is not allowed; choose one of: "
                              f"{', '.join(KINDS)}")
        allowed = {"psk": range(1, 9), "bits": range(1, 3), "analog": range(0, 1)}[self.kind]
        if self.bits_per_symbol not in allowed:
            raise ConfigError(f"bits_per_symbol={self.bits_per_symbol} is not allowed for a "
                              f"{self.kind} payload; allowed: {list(allowed)}")
        if self.kind == "analog" and not 1 <= self.pilot_spacing <= 255:
            raise ConfigError(f"pilot_spacing={self.pilot_spacing} is not allowed for an "
                              f"analog payload; it must be in 1..255 symbols")
        if self.kind != "analog" and self.pilot_spacing != 0:
            raise ConfigError(f"pilot_spacing={self.pilot_spacing}: only analog payloads "
                              f"carry pilots (use 0)")
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bits_per_symbol": self.bits_per_symbol,
                "pilot_spacing": self.pilot_spacing}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PayloadSpec:
        return cls(str(d["kind"]), int(d.get("bits_per_symbol", 0)),
                   int(d.get("pilot_spacing", 0))).check()


@dataclass
class TxPayload:
    """A transmitter's output for one batch: ``values`` (N, L) and the codec field."""

    values: np.ndarray
    codec_field: int = 0


@dataclass
class RxPayload:
    """What the link hands a receiver for one batch (N images, L values each): ``values``
    (psk: complex symbols, analog: real values, bits: LLRs), ``noise_var`` per value (psk:
    complex noise per symbol; analog: per real value; bits: of the symbol carrying the bit),
    ``erased`` (N, L) where no segment arrived (values there are 0, LLRs 0, noise variance
    1)."""

    kind: str
    values: np.ndarray
    noise_var: np.ndarray
    erased: np.ndarray
    codec_field: int = 0

    @property
    def n_images(self) -> int:
        return int(self.values.shape[0])

    def hard_bits(self) -> np.ndarray:
        """For a bits payload: the hard decisions (1 where the LLR is negative)."""
        if self.kind != "bits":
            raise ConfigError(f"hard bits of a {self.kind} payload")
        return (self.values < 0).astype(np.uint8)


@dataclass
class CodecOutput:
    """A receiver's result for one batch: class probabilities (N, classes) float32, and any
    other outputs a system has (images, one output per task) under ``extra``."""

    probabilities: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return self.probabilities.argmax(1).astype(np.int32)


class _Side:
    """What both sides share: the card, the fingerprint, the payload spec."""

    def __init__(self, card: dict[str, Any], spec: PayloadSpec) -> None:
        self.card, self.spec = card, spec
        self.path = str(card.get("path", ""))

    @property
    def fingerprint(self) -> str:
        return str(self.card["fingerprint"])

    @property
    def codec_name(self) -> str:
        return str(self.card["codec"])

    @property
    def codec_id(self) -> int:
        from phydnn.codecs.registry import get_codec
        return get_codec(self.codec_name).codec_id

    def set_backend(self, backend: str, threads: int = 0) -> None:
        """Run this side's network with ``backend`` (:data:`phydnn.models.backends.BACKENDS`);
        a codec whose networks have no other backend wired takes only 'eager'."""
        from phydnn.models.backends import BACKENDS
        check_choice("backend", backend, BACKENDS)
        if backend != "eager":
            raise ConfigError(f"backend={backend!r}: the {self.codec_name} codec runs its "
                              f"networks in torch eager only")


class Transmitter(_Side):
    """The device's half. Subclasses implement :meth:`encode_tensor`."""

    def inputs(self, images: np.ndarray) -> torch.Tensor:
        """(N, C, H, W) uint8 pixels -> the normalised float tensor this side's network (and
        :meth:`graph`) takes, checked against the card's input shape."""
        shape = tuple(self.card["input_shape"])
        if images.ndim != 4 or tuple(images.shape[1:]) != shape:
            raise ConfigError(f"image shape {tuple(images.shape[1:])} does not match the "
                              f"model {self.path}, which takes {shape}")
        return normalize(torch.from_numpy(np.ascontiguousarray(images)),
                         tuple(self.card["mean"]), tuple(self.card["std"]))

    def test_inputs(self, images: int) -> torch.Tensor:
        """The first ``images`` test images of the card's dataset, as :meth:`inputs` makes
        them (what the backends and the ONNX export are checked on)."""
        from phydnn.data import load_dataset
        return self.inputs(load_dataset(self.card["dataset"], "test").images[:images].numpy())

    def encode(self, images: np.ndarray) -> TxPayload:
        """(N, C, H, W) uint8 pixels -> the batch's payload (checked against the spec)."""
        x = self.inputs(images)
        with torch.no_grad():
            out = self.encode_tensor(x)
        return TxPayload(out.values.reshape(len(images), -1), out.codec_field)

    def encode_tensor(self, x: torch.Tensor) -> TxPayload:
        raise NotImplementedError

    def graph(self) -> torch.nn.Module:
        """What the device runs per batch as one module, normalised images in, the payload's
        values out (for an inference backend or an ONNX export); codecs whose transmitter
        is not one fixed graph (multi-exit, VL-VFE) refuse."""
        raise ConfigError(f"the {self.codec_name} codec's transmitter is not exported as one "
                          f"graph (PhyDNN's is)")

    def adapt(self, snr_db: float) -> None:
        """Told the channel's Es/N0 (dB; feedback, or the loopback's setting): a codec whose
        payload follows the channel (the separation baseline's code rate) chooses here. Most
        ignore it."""

    def set_budget(self, macs: float) -> Any:
        """A compute budget of ``macs`` MACs per image on the device (paper 002); codecs
        without one refuse it."""
        raise ConfigError(f"budget={macs:g}: the {self.codec_name} codec has no compute "
                          f"budget (only multi-exit codecs take one)")

    def complexity(self) -> tuple[int, int]:
        """(parameters, MACs per image) of what the device runs (paper 003 Table III)."""
        raise NotImplementedError


class Receiver(_Side):
    """The server's half. Subclasses implement :meth:`decode` and may narrow
    :meth:`check_field` and :meth:`values_per_image`."""

    def check_field(self, codec_field: int) -> None:
        """Refuse a codec field this receiver cannot serve (ValueError with the reason)."""
        if codec_field != 0:
            raise ValueError(f"codec field {codec_field}; {self.codec_name} sends 0")

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        """L: values per image the transmitter sends with this codec field in a batch of
        ``n_images`` (a batch's side information, e.g. a multi-exit batch's exit map, is
        spread over its rows)."""
        return int(self.card["values_per_image"])

    def decode(self, payload: RxPayload) -> CodecOutput:
        raise NotImplementedError


class Codec:
    """A registered system (:func:`phydnn.codecs.register_codec`): how its bundles become a
    :class:`Transmitter` and a :class:`Receiver`, and which weights each side needs.

    ``tx_keys`` / ``rx_keys``: prefixes of the state-dict keys of each side (a TX bundle holds
    only the first, an RX bundle only the second; keys in both are shared, e.g. a codebook).
    """

    name: ClassVar[str] = ""
    codec_id: ClassVar[int] = 0
    tx_keys: ClassVar[tuple[str, ...]] = ()
    rx_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def payload_spec(cls, card: dict[str, Any]) -> PayloadSpec:
        return PayloadSpec.from_dict(card["payload"])

    @classmethod
    def transmitter(cls, state: dict[str, torch.Tensor], card: dict[str, Any]) -> Transmitter:
        raise NotImplementedError

    @classmethod
    def receiver(cls, state: dict[str, torch.Tensor], card: dict[str, Any],
                 **options: Any) -> Receiver:
        raise NotImplementedError

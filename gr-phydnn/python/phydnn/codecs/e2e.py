"""What the codecs trained end to end from scratch share (DT-JSCC, DeepJSCC): a network with
an ``encoder`` (the device) and a ``decoder`` (the server), rebuilt from the card's ``arch``,
its two sides as :class:`Transmitter` / :class:`Receiver`, and a fingerprint of the
transmitter's weights (the RX side takes it from the card: it does not hold those weights).

A network class implements ``transmit(x) -> values (N, L)``, ``receive(payload tensors) ->
logits``, ``forward(x, noise_var) -> {"logits", "regulariser"}`` (training, channel in the
graph) and ``simulate(x, noise_var, receiver) -> logits`` (the torch link at inference).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from phydnn.codecs.base import (
    Codec,
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
)
from phydnn.codecs.layers import awgn
from phydnn.errors import CheckpointError, check_choice
from phydnn.models.complexity import count_macs, count_params

__all__ = ["AnalogClassifier", "EndToEndCodec", "TaskTarget", "state_fingerprint"]


@dataclass
class TaskTarget:
    """What a training batch's logits are scored against: the labels and, when a teacher
    distils into the network, the teacher's softened class probabilities (Hinton et al.,
    2015): (1 - a) CE + a T^2 KL(teacher_T || student_T), a = ``weight``, T =
    ``temperature``. With no teacher it is the cross-entropy alone."""

    labels: torch.Tensor
    teacher: torch.Tensor | None = None
    weight: float = 0.0
    temperature: float = 4.0

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        ce = nn.functional.cross_entropy(logits, self.labels)
        if self.teacher is None or not self.weight:
            return ce
        t = self.temperature
        kd = nn.functional.kl_div(nn.functional.log_softmax(logits / t, 1), self.teacher,
                                  reduction="batchmean") * t * t
        return (1 - self.weight) * ce + self.weight * kd


class AnalogClassifier:
    """What a network with an ``encoder`` to ``values`` tanh-bounded values and a
    ``decoder`` from them to logits has as an ``analog`` codec (DeepJSCC,
    :mod:`phydnn.codecs.deepjscc`; paper 002's static encoder, :mod:`phydnn.codecs.toc`):
    its payload, the two sides, the torch link."""

    values: int
    pilot_spacing: int

    def payload_spec(self) -> PayloadSpec:
        return PayloadSpec("analog", 0, self.pilot_spacing).check()

    @torch.no_grad()
    def transmit(self, x: Tensor) -> Tensor:
        return self.encoder(x).to(torch.float32)

    def receive(self, values: Tensor, noise_var: Tensor, erased: Tensor,
                receiver: str = "soft") -> Tensor:
        return self.decoder(values[:, :self.values].float())   # erased values come as 0

    def simulate(self, x: Tensor, noise_var: float, receiver: str = "soft",
                 generator: torch.Generator | None = None) -> Tensor:
        v = self.transmit(x)
        return self.receive(awgn(v, noise_var, generator),
                            torch.full(v.shape, float(noise_var)),
                            torch.zeros(v.shape, dtype=torch.bool))


def state_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """16 hex digits of a hash over the tensors (sorted by key): the transmitter's identity."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class _E2ETransmitter(Transmitter):
    def __init__(self, net: nn.Module, card: dict[str, Any], codec: type) -> None:
        super().__init__(card, codec.payload_spec(card))
        self.net = net

    def encode_tensor(self, x: torch.Tensor) -> TxPayload:
        return TxPayload(self.net.transmit(x).numpy(), 0)

    def complexity(self) -> tuple[int, int]:
        """Encoder (and codebook); MACs of the encoder plus the codeword distances."""
        net = self.net
        macs, out = count_macs(net.encoder, tuple(self.card["input_shape"]))
        book = getattr(net, "codebook", None)
        if book is None:
            return count_params(net.encoder), macs
        return count_params(net.encoder) + count_params(book), macs + out[0] * book.weight.numel()


class _E2EReceiver(Receiver):
    def __init__(self, net: nn.Module, card: dict[str, Any], codec: type,
                 receiver: str) -> None:
        super().__init__(card, codec.payload_spec(card))
        self.net = net
        self.receiver = check_choice("receiver", receiver, codec.receivers)

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        values = torch.from_numpy(np.ascontiguousarray(payload.values))
        nv = torch.from_numpy(payload.noise_var.astype(np.float32))
        erased = torch.from_numpy(payload.erased)
        logits = self.net.receive(values, nv, erased, self.receiver)
        return CodecOutput(torch.softmax(logits, 1).numpy().astype(np.float32))


class EndToEndCodec(Codec):
    """A codec whose network is built from ``card['arch']`` by :meth:`build`."""

    tx_keys = ("encoder.",)
    rx_keys = ("decoder.",)
    receivers: ClassVar[tuple[str, ...]] = ("soft",)
    default_receiver: ClassVar[str] = "soft"
    trainer: ClassVar[str] = "phydnn train-codec"      # the command that makes its bundles
    card_snrs: ClassVar[tuple[float, ...] | None] = None   # the card's Es/N0s (None: 0..20)

    @classmethod
    def build(cls, arch: dict[str, Any], in_channels: int, num_classes: int,
              input_shape: tuple[int, int, int]) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def optimiser_groups(cls, net: nn.Module, lr: float,
                         arch: dict[str, Any]) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (default: one, at ``lr``)."""
        return [{"params": list(net.parameters()), "lr": lr}]

    @classmethod
    def loss(cls, out: dict[str, Any], target: TaskTarget) -> torch.Tensor:
        """The task loss of one training batch (default: that of ``logits`` against the
        target); the trainer adds beta times ``out['regulariser']``."""
        return target.loss(out["logits"])

    @classmethod
    def initialise(cls, net: nn.Module, bundle: str) -> None:
        """Start training from a trained bundle's weights (``--init``); most codecs train
        from scratch and refuse it."""
        from phydnn.errors import ConfigError
        raise ConfigError(f"--init is not allowed for codec {cls.name}: it trains from "
                          f"scratch")

    @classmethod
    def calibrate(cls, net: nn.Module, val: Any) -> dict[str, Any]:
        """After training, on the validation split: anything the network must learn from
        data without gradients (buffers), and card fields (default: nothing)."""
        return {}

    @classmethod
    def admissible(cls, net: nn.Module, snr_db: float) -> bool:
        """Whether this epoch's network may be the one saved (default: any); admissible
        epochs win over the others, then the best validation accuracy."""
        check = getattr(net, "admissible", None)
        return True if check is None else bool(check(snr_db))

    @classmethod
    def fingerprint(cls, net: nn.Module) -> str:
        return state_fingerprint({k: v for k, v in net.state_dict().items()
                                  if k.startswith(cls.tx_keys)})

    @classmethod
    def card_fields(cls, net: nn.Module) -> dict[str, Any]:
        """What a card records of the network: payload, values per image, fingerprint."""
        return {"payload": net.payload_spec().as_dict(), "values_per_image": net.values,
                "fingerprint": cls.fingerprint(net)}

    @classmethod
    def build_from_card(cls, card: dict[str, Any]) -> nn.Module:
        """The untrained network a card describes (default: :meth:`build` from its arch)."""
        return cls.build(card["arch"], int(card["in_channels"]), int(card["num_classes"]),
                         tuple(card["input_shape"]))

    @classmethod
    def _net(cls, state: dict[str, torch.Tensor], card: dict[str, Any],
             keys: tuple[str, ...]) -> nn.Module:
        net = cls.build_from_card(card)
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if k.startswith(keys)]
        if missing or unexpected:
            described = card.get("arch") or card.get("bottleneck")
            raise CheckpointError(f"{card['path']}: weights do not fit the {cls.name} network "
                                  f"its card describes ({described}; missing {missing[:3]}, "
                                  f"unexpected {list(unexpected)[:3]})")
        return net.eval()

    @classmethod
    def _tx_net(cls, state: dict[str, torch.Tensor], card: dict[str, Any]) -> nn.Module:
        """The transmitter's network, its weights checked against the card's fingerprint."""
        net = cls._net(state, card, cls.tx_keys)
        if cls.fingerprint(net) != card.get("fingerprint"):
            raise CheckpointError(f"{card['path']}: the weights' fingerprint "
                                  f"{cls.fingerprint(net)} is not the card's "
                                  f"{card.get('fingerprint')}")
        return net

    @classmethod
    def transmitter(cls, state, card) -> Transmitter:
        return _E2ETransmitter(cls._tx_net(state, card), card, cls)

    @classmethod
    def receiver(cls, state, card, receiver: str | None = None) -> Receiver:
        return _E2EReceiver(cls._net(state, card, cls.rx_keys), card, cls,
                            receiver or cls.default_receiver)

"""The separation baseline (issue 23): source coding and channel coding done apart, on the
same PHY as PhyDNN. ``bits`` payload on Gray QPSK.

    x -> BottleFit head: F features (the bottleneck)                      (the device)
      -> learned b-bit uniform quantiser (step 2 alpha_b / 2^b)  -> F b bits
      -> codewords: payload chunks + CRC-16 each -> gr-fec encoder (convolutional K = 7 with
         soft Viterbi, or LDPC from gr-fec's matrices, or none)
      -> rate matching: the coded bits repeated cyclically to exactly 2 S bits (S QPSK
         symbols: the channel-use budget, equal to the joint codec's)
    ~ channel ~> LLRs -> repeats summed -> gr-fec decoder -> CRC per codeword
      -> features; those of a failed codeword are erased and take the feature's mean (as
         PhyDNN fills erasures: every image still gets a result) -> BottleFit tail -> logits

This is the classic design the joint codecs are measured against (paper 000 Sec. I-A: deep
JSCC "enjoys significant improvement ... over separate source/channel coding techniques";
paper 003 compares PhyDNN only with full-stack baselines, so this is the issue's question,
not a paper's figure). Shannon's separation holds only for infinite blocks: with one short
codeword per image a cliff is expected below the code's threshold.

A *mode* is a (b, code) pair whose codewords fit the budget (:func:`fit_modes`, every b in
1..8 that fits, with the rest of the budget spent on repetition); the codec field names the
mode, so the receiver knows the code and the quantiser. The transmitter chooses the mode for
the channel Es/N0 it is told (:meth:`SeparationTransmitter.adapt`) from the card's rate
table, picked on a validation split carved from the training set
(:mod:`phydnn.training.separation`).

Importing this module needs no GNU Radio; building a transmitter or receiver loads gr-fec
(:mod:`phydnn.fec`), the one GNU Radio library a codec uses: the channel code must be
gr-fec's, in the torch evaluation as on the link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phydnn.codecs.base import (
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
)
from phydnn.codecs.e2e import EndToEndCodec
from phydnn.codecs.registry import register_codec
from phydnn.errors import ConfigError, check_choice
from phydnn.link.crc import CRC16_BITS, crc16_bits, crc16_ok

__all__ = ["MAX_BITS", "Mode", "SeparationCodec", "SeparationNet", "UniformQuantiser",
           "fit_modes", "mode_for_snr"]

MAX_BITS = 8
DEFAULT_SNR_DB = 12.0        # the Es/N0 a transmitter assumes until told (the bench's)
HARD_LLR = 4.0               # |LLR| a hard decision is handed to the decoder with
BITS_PER_SYMBOL = 2          # Gray QPSK


class UniformQuantiser(nn.Module):
    """b-bit uniform mid-rise quantiser on [-alpha_b, alpha_b], one learned alpha per b
    (LSQ-style: Esser et al., ICLR 2020; gradients reach alpha through the levels and reach the
    features straight through the rounding)."""

    def __init__(self, max_bits: int = MAX_BITS, alpha: float = 3.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((int(max_bits),), float(alpha)))

    def _alpha(self, bits: int) -> Tensor:
        return self.alpha[int(bits) - 1].abs() + 1e-3

    def indices(self, z: Tensor, bits: int) -> Tensor:
        """Level index 0 .. 2^b - 1 of every value."""
        a, levels = self._alpha(bits), 1 << int(bits)
        q = torch.floor((z + a) / (2 * a) * levels)
        return q.clamp(0, levels - 1).to(torch.int64)

    def levels(self, q: Tensor, bits: int) -> Tensor:
        """Level index -> the reconstruction value (the middle of its cell)."""
        a, levels = self._alpha(bits), 1 << int(bits)
        return (q.to(a.dtype) + 0.5) * (2 * a / levels) - a

    def forward(self, z: Tensor, bits: int) -> Tensor:
        """Training: quantised values with straight-through gradients to z."""
        a = self._alpha(bits)
        zc = torch.maximum(torch.minimum(z, a), -a)
        q = self.levels(self.indices(z, bits).detach(), bits)
        return q + (zc - zc.detach())


class SeparationNet(nn.Module):
    """A BottleFit split (``head``, ``tail``), the quantiser, and ``fill`` (per feature
    channel: the value an erased feature takes)."""

    def __init__(self, bottleneck: nn.Module) -> None:
        super().__init__()
        self.head, self.tail = bottleneck.head, bottleneck.tail
        self.quantiser = UniformQuantiser()
        self.register_buffer("fill", torch.zeros(int(bottleneck.width)))

    def features(self, x: Tensor) -> Tensor:
        return self.head(x)

    def decode(self, z: Tensor, erased: Tensor | None = None) -> Tensor:
        """Logits from (dequantised) features (N, C, H, W); erased ones take ``fill``."""
        if erased is not None:
            z = torch.where(erased, self.fill.view(1, -1, 1, 1).to(z.dtype), z)
        return self.tail(z)


@dataclass(frozen=True)
class Mode:
    """b bits per feature over ``codewords`` codewords of gr-fec code ``code`` (``frame``
    information bits each, the CRC's ``crc`` bits included; ``coded`` bits each). ``crc``
    = 0: no CRC (budgets of a few dozen bits, where CRC-16 would take half of them): a
    codeword is never erased, its decoded bits are used as they come."""

    bits: int
    code: str
    codewords: int
    frame: int
    coded: int
    crc: int = CRC16_BITS

    @property
    def payload_bits(self) -> int:
        """Feature bits a codeword carries (its frame less the CRC)."""
        return self.frame - self.crc

    @property
    def rate(self) -> float:
        """Feature bits a codeword carries over its coded bits (CRC and tail bits count as
        overhead; cyclic repetition lowers the rate on air further)."""
        return self.payload_bits / self.coded

    def describe(self) -> str:
        crc = "" if self.crc else ", no CRC"
        return f"b={self.bits} {self.code} x{self.codewords} (rate {self.rate:.2f}{crc})"


def _mode(code_name: str, bits: int, features: int, crc: int = CRC16_BITS) -> Mode:
    from phydnn.fec import get_code
    payload = features * bits
    code = get_code(code_name, payload + crc)
    count = 1 if code.k == payload + crc else math.ceil(payload / (code.k - crc))
    return Mode(bits, code_name, count, code.k, code.n, crc)


def fit_modes(features: int, budget_symbols: int, codes: tuple[str, ...],
              crc: int = CRC16_BITS) -> list[Mode]:
    """Every (code, b) with b in 1..8 whose codewords fit 2 x budget coded bits (QPSK):
    large b for high Es/N0, small b (more of the budget left to cyclic repetition) for low;
    codes that cannot carry even b = 1 are left out. ``crc``: CRC bits per codeword (16, or
    0 for none)."""
    if crc not in (0, CRC16_BITS):
        raise ConfigError(f"crc_bits={crc} is not allowed; 16 (CRC-16 per codeword) or 0")
    budget = BITS_PER_SYMBOL * int(budget_symbols)
    modes = [m for name in codes
             for m in (_mode(name, b, features, crc) for b in range(1, MAX_BITS + 1))
             if m.codewords * m.coded <= budget]
    if not modes:
        raise ConfigError(f"budget_symbols={budget_symbols} is too small: no code carries "
                          f"{features} features at 1 bit each in {budget} coded bits")
    return modes


def mode_for_snr(rate_table: list[dict[str, Any]], snr_db: float) -> int:
    """The rate table's mode for Es/N0 ``snr_db``: the entry at the largest table Es/N0 not
    above it (below the table: its first entry)."""
    table = sorted(rate_table, key=lambda r: r["snr_db"])
    chosen = table[0]
    for row in table:
        if row["snr_db"] <= float(snr_db) + 1e-9:
            chosen = row
    return int(chosen["mode"])


def _feature_bits(q: np.ndarray, bits: int) -> np.ndarray:
    """Level indices (N, F) -> bits (N, F b), MSB first."""
    shifts = np.arange(bits - 1, -1, -1)
    return ((q[..., None] >> shifts) & 1).astype(np.uint8).reshape(len(q), -1)


def _feature_indices(bits: np.ndarray, b: int) -> np.ndarray:
    weights = 1 << np.arange(b - 1, -1, -1)
    return (bits.reshape(len(bits), -1, b).astype(np.int64) * weights).sum(-1)


class _Coding:
    """What both sides do with a mode: chunks, CRC, gr-fec, cyclic rate matching."""

    def __init__(self, card: dict[str, Any]) -> None:
        from phydnn.fec import get_code
        self.features = int(card["features"])
        self.budget_bits = BITS_PER_SYMBOL * int(card["budget_symbols"])
        self.modes = [Mode(**m) for m in card["modes"]]
        self.codes = [get_code(m.code, m.frame) for m in self.modes]

    def check_field(self, field: int) -> Mode:
        if not 0 <= field < len(self.modes):
            raise ValueError(f"codec field {field} names no mode; this bundle has "
                             f"{len(self.modes)} (0..{len(self.modes) - 1})")
        return self.modes[field]

    def _positions(self, field: int) -> np.ndarray:
        mode = self.modes[field]
        return np.arange(self.budget_bits) % (mode.codewords * mode.coded)

    def encode(self, q: np.ndarray, field: int) -> np.ndarray:
        """Level indices (N, F) -> the 2 S bits per image on air."""
        mode, code = self.modes[field], self.codes[field]
        n, chunk = len(q), mode.payload_bits
        bits = np.zeros((n, mode.codewords * chunk), np.uint8)
        bits[:, :self.features * mode.bits] = _feature_bits(q, mode.bits)
        info = bits.reshape(n * mode.codewords, chunk)
        coded = code.encode(np.concatenate([info, crc16_bits(info)], 1) if mode.crc else info)
        return coded.reshape(n, -1)[:, self._positions(field)]

    def decode(self, llr: np.ndarray, field: int) -> tuple[np.ndarray, np.ndarray]:
        """LLRs (N, 2 S) -> (level indices (N, F), erased (N, F) bool: in a failed codeword)."""
        mode, code = self.modes[field], self.codes[field]
        n, total = len(llr), mode.codewords * mode.coded
        summed = np.zeros((n, total), np.float64)
        np.add.at(summed, (slice(None), self._positions(field)), llr.astype(np.float64))
        words = code.decode(summed.reshape(n * mode.codewords, mode.coded).astype(np.float32))
        ok = (crc16_ok(words) if mode.crc else np.ones(len(words), bool)).reshape(
            n, mode.codewords)
        payload = words[:, :mode.payload_bits].reshape(n, -1)[:, :self.features * mode.bits]
        bad_bits = np.repeat(~ok, mode.payload_bits, 1)[:, :self.features * mode.bits]
        erased = bad_bits.reshape(n, self.features, mode.bits).any(-1)
        return _feature_indices(payload, mode.bits), erased


class SeparationTransmitter(Transmitter):
    def __init__(self, net: SeparationNet, card: dict[str, Any]) -> None:
        super().__init__(card, SeparationCodec.payload_spec(card))
        self.net, self.coding = net, _Coding(card)
        self.mode = 0                        # a card in the making has no rate table yet
        if "rate_table" in card:
            self.adapt(DEFAULT_SNR_DB)

    def adapt(self, snr_db: float) -> None:
        """Choose the mode of the card's rate table for the channel Es/N0 ``snr_db``."""
        self.mode = mode_for_snr(self.card["rate_table"], snr_db)

    def encode_tensor(self, x: Tensor) -> TxPayload:
        bits = self.coding.modes[self.mode].bits
        z = self.net.features(x).flatten(1)
        q = self.net.quantiser.indices(z, bits).numpy()
        return TxPayload(self.coding.encode(q, self.mode), self.mode)

    def complexity(self) -> tuple[int, int]:
        from phydnn.models.complexity import count_macs, count_params
        macs, _ = count_macs(self.net.head, tuple(self.card["input_shape"]))
        return count_params(self.net.head), macs


class SeparationReceiver(Receiver):
    def __init__(self, net: SeparationNet, card: dict[str, Any], receiver: str) -> None:
        super().__init__(card, SeparationCodec.payload_spec(card))
        self.net, self.coding, self.receiver = net, _Coding(card), receiver
        self.feature_shape = tuple(int(v) for v in card["feature_shape"])

    def check_field(self, codec_field: int) -> None:
        self.coding.check_field(codec_field)

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        return self.coding.budget_bits

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        mode = self.coding.check_field(payload.codec_field)
        llr = payload.values
        if self.receiver == "hard":              # hard-decision decoding: signs only
            llr = np.where(llr == 0, 0.0, np.where(llr < 0, -HARD_LLR, HARD_LLR))
        q, erased = self.coding.decode(llr, payload.codec_field)
        z = self.net.quantiser.levels(torch.from_numpy(q), mode.bits)
        shape = (payload.n_images, *self.feature_shape)
        logits = self.net.decode(z.view(shape), torch.from_numpy(erased).view(shape))
        return CodecOutput(torch.softmax(logits, 1).numpy().astype(np.float32),
                           {"features_erased": erased.mean(1)})


@register_codec("separation", codec_id=4)
class SeparationCodec(EndToEndCodec):
    tx_keys = ("head.", "quantiser.")
    rx_keys = ("tail.", "quantiser.", "fill")
    receivers = ("soft", "hard")      # soft: LLRs into gr-fec; hard: their signs only
    default_receiver = "soft"
    trainer = "phydnn train-separation"

    @classmethod
    def payload_spec(cls, card: dict[str, Any]) -> PayloadSpec:
        return PayloadSpec("bits", BITS_PER_SYMBOL).check()

    @classmethod
    def build_from_card(cls, card: dict[str, Any]) -> SeparationNet:
        """A SeparationNet around the BottleFit split the card's ``bottleneck`` names (or a
        VFE-family network's, paper 000's quantisation baseline)."""
        from phydnn.models import build_backbone
        from phydnn.models.bottleneck import BottleneckSplit
        b = card["bottleneck"]
        if b.get("codec") == "vfe":
            from phydnn.codecs.vfe import VFECodec, VFESplit
            return SeparationNet(VFESplit(VFECodec.build(
                b["arch"], int(card["in_channels"]), int(card["num_classes"]),
                tuple(card["input_shape"]))))
        backbone = build_backbone(b["backbone"], int(card["in_channels"]),
                                  int(card["num_classes"]))
        return SeparationNet(BottleneckSplit(backbone, int(b["width"]), b["split"]))

    @classmethod
    def transmitter(cls, state, card) -> Transmitter:
        return SeparationTransmitter(cls._tx_net(state, card), card)

    @classmethod
    def receiver(cls, state, card, receiver: str | None = None) -> Receiver:
        receiver = check_choice("receiver", receiver or cls.default_receiver, cls.receivers)
        return SeparationReceiver(cls._net(state, card, cls.rx_keys), card, receiver)

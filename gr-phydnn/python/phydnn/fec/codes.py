"""gr-fec's convolutional and LDPC codes as batched numpy encode/decode over whole codewords.

Conventions: information and coded bits are uint8 0/1, one per byte (gr-fec's unpacked
``uchar``); decoders take the link's LLRs ``log p(b=0|y) / p(b=1|y)`` (DESIGN.md "Codecs",
``bits`` payload) and return hard information bits. A zero LLR is an erasure (a punctured or
lost bit).

- :class:`ConvolutionalCode`: gr-fec's ``cc_encoder`` / ``cc_decoder`` (soft-decision
  Viterbi), K = 7, polynomials 109 and 79 (0x6D, 0x4F: gr-fec's defaults, the NASA/802.11
  code), terminated (6 tail bits return the encoder to state 0). Rate 1/2, or 2/3 and 3/4 by
  the puncturing patterns of IEEE 802.11-2016 Sec. 17.3.5.6 (Fig. 17-9). gr-fec's
  ``cc_decoder`` wants 8-bit soft values (128 + 48 s, s > 0 for a 1: what its
  ``extended_decoder`` makes of +-1 floats); the LLRs are scaled per codeword to a mean
  |s| of 1 (the Viterbi metric is linear, so the scale changes nothing but the clipping).
- :class:`LDPCCode`: gr-fec's ``ldpc_encoder`` and sum-product ``ldpc_decoder`` over one of
  the parity-check matrices (alist files) that ship with gr-fec. The decoder turns its float
  input r into LLRs 2 r / sigma^2 with bit 1 -> +1; with sigma = 1 an input of -LLR / 2 hands
  it the link's LLRs exactly. The encoder is systematic: the information bits are the
  codeword's last k bits.
- :class:`Uncoded`: the CRC alone (rate 1), the high-SNR end of the separation baseline.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from phydnn.errors import ConfigError

__all__ = ["CODE_NAMES", "LDPC_DIR", "ChannelCode", "ConvolutionalCode", "LDPCCode",
           "Uncoded", "get_code"]

LDPC_DIR = Path("/usr/share/gnuradio/fec/ldpc")
# puncturing patterns over the mother code's output (A1 B1 A2 B2 ...): 1 = sent
PUNCTURE = {"1/2": (1, 1), "2/3": (1, 1, 1, 0), "3/4": (1, 1, 1, 0, 0, 1)}
# name -> (kind, setting): the codes the separation baseline chooses from
CODES = {
    "cc12": ("cc", "1/2"), "cc23": ("cc", "2/3"), "cc34": ("cc", "3/4"),
    "ldpc300": ("ldpc", "n_0300_k_0152_gap_03.alist"),
    "ldpc1800": ("ldpc", "n_1800_k_0902_gap_28.alist"),
    "ldpc500": ("ldpc", "n_0500_k_0127_gap_21.alist"),
    "uncoded": ("none", ""),
}
CODE_NAMES = tuple(CODES)

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def _buffer(array: np.ndarray):
    """A PyCapsule around a C-contiguous array's data: what gr-fec's pybind11
    ``generic_work(in_buffer, out_buffer)`` takes."""
    if not array.flags.c_contiguous:
        raise ValueError("gr-fec buffers must be C-contiguous")
    return _capsule_new(array.ctypes.data, None, None)


class ChannelCode:
    """``k`` information bits -> ``n`` coded bits per codeword."""

    name: str = ""
    k: int = 0
    n: int = 0

    @property
    def rate(self) -> float:
        return self.k / self.n

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """(B, k) uint8 -> (B, n) uint8."""
        bits = self._check(bits, self.k, np.uint8)
        out = np.empty((len(bits), self.n), np.uint8)
        for i, row in enumerate(bits):
            out[i] = self._encode_one(row)
        return out

    def decode(self, llr: np.ndarray) -> np.ndarray:
        """(B, n) LLRs -> (B, k) uint8 hard information bits."""
        llr = self._check(llr, self.n, np.float32)
        out = np.empty((len(llr), self.k), np.uint8)
        for i, row in enumerate(llr):
            out[i] = self._decode_one(row)
        return out

    def _check(self, a: np.ndarray, width: int, dtype: type) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype)
        if a.ndim != 2 or a.shape[1] != width:
            raise ConfigError(f"{self.name}: codewords must have shape (B, {width}), got "
                              f"{a.shape}")
        return a

    def _encode_one(self, bits: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode_one(self, llr: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ConvolutionalCode(ChannelCode):
    """K = 7 (109, 79) terminated convolutional code over ``k`` information bits, rate 1/2
    or punctured to 2/3 or 3/4; soft Viterbi decoding (gr-fec ``cc_decoder``)."""

    CONSTRAINT, POLYS = 7, (109, 79)

    def __init__(self, k: int, rate: str = "1/2") -> None:
        from gnuradio import fec
        if rate not in PUNCTURE:
            raise ConfigError(f"convolutional rate {rate!r} is not allowed; choose one of: "
                              f"{', '.join(PUNCTURE)}")
        self.k, self.name = int(k), f"cc{rate.replace('/', '')}"
        polys = list(self.POLYS)
        self._enc = fec.cc_encoder.make(self.k, self.CONSTRAINT, 2, polys, 0,
                                        fec.CC_TERMINATED, False)
        self._dec = fec.cc_decoder.make(self.k, self.CONSTRAINT, 2, polys, 0, -1,
                                        fec.CC_TERMINATED, False)
        self.mother = int(self._enc.get_output_size())         # 2 (k + 6)
        pattern = np.array(PUNCTURE[rate], bool)
        self._kept = np.flatnonzero(np.resize(pattern, self.mother))
        self.n = len(self._kept)

    def _encode_one(self, bits: np.ndarray) -> np.ndarray:
        out = np.empty(self.mother, np.uint8)
        self._enc.generic_work(_buffer(bits), _buffer(out))
        return out[self._kept]

    def _decode_one(self, llr: np.ndarray) -> np.ndarray:
        soft = np.zeros(self.mother, np.float32)               # punctured bits: erasures
        scale = float(np.abs(llr).mean())
        soft[self._kept] = -llr / scale if scale > 0 else 0.0
        coded = np.clip(np.rint(128.0 + 48.0 * soft), 0, 255).astype(np.uint8)
        out = np.empty(self.k, np.uint8)
        self._dec.generic_work(_buffer(coded), _buffer(out))
        return out


class LDPCCode(ChannelCode):
    """An LDPC code from a gr-fec alist file; sum-product decoding (``max_iterations``)."""

    def __init__(self, alist: str | Path, max_iterations: int = 50) -> None:
        from gnuradio import fec
        path = Path(alist) if Path(alist).is_absolute() else LDPC_DIR / alist
        if not path.is_file():
            raise ConfigError(f"LDPC parity-check matrix {path} does not exist (gr-fec ships "
                              f"them in {LDPC_DIR}; is gnuradio's fec data installed?)")
        self._enc = fec.ldpc_encoder_make(str(path))
        self._dec = fec.ldpc_decoder.make(str(path), 1.0, int(max_iterations))
        self.k, self.n = int(self._enc.get_input_size()), int(self._enc.get_output_size())
        self.name = f"ldpc{self.n}"

    def _encode_one(self, bits: np.ndarray) -> np.ndarray:
        out = np.empty(self.n, np.uint8)
        self._enc.generic_work(_buffer(bits), _buffer(out))
        return out

    def _decode_one(self, llr: np.ndarray) -> np.ndarray:
        soft = np.ascontiguousarray(-0.5 * llr, np.float32)
        out = np.empty(self.k, np.uint8)
        self._dec.generic_work(_buffer(soft), _buffer(out))
        return out


class Uncoded(ChannelCode):
    """No channel code: the information bits go on air as they are (hard decisions back)."""

    def __init__(self, k: int) -> None:
        self.k = self.n = int(k)
        self.name = "uncoded"

    def encode(self, bits: np.ndarray) -> np.ndarray:
        return self._check(bits, self.k, np.uint8).copy()

    def decode(self, llr: np.ndarray) -> np.ndarray:
        return (self._check(llr, self.n, np.float32) < 0).astype(np.uint8)


def get_code(name: str, frame_bits: int) -> ChannelCode:
    """The code ``name`` (:data:`CODE_NAMES`). ``frame_bits``: information bits per codeword
    for the codes whose frame is free (convolutional, uncoded); an LDPC code's is its own."""
    if name not in CODES:
        raise ConfigError(f"channel code {name!r} is not known; choose one of: "
                          f"{', '.join(CODE_NAMES)}")
    kind, setting = CODES[name]
    if kind == "cc":
        return ConvolutionalCode(frame_bits, setting)
    if kind == "ldpc":
        return LDPCCode(setting)
    return Uncoded(frame_bits)

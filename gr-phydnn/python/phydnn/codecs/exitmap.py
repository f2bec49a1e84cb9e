"""The exit map of a multi-exit batch: which exit each image left at, sent with the batch so
that the server routes every image to its own exit's decoder (paper 002 never says how the
receiver learns the exit, NOTES.md; it must).

A batch of N images whose exits are e_1 .. e_N (0-based, K exits) goes out with its rows
sorted by exit (stable: images of one exit travel together, in their batch order). When
every image left at one exit k, the header's codec field says k + 1 and nothing else is
sent. Otherwise the codec field is ``MIXED | check`` and the payload carries the map:

    e_1 .. e_N as one base-K number (ceil(N log2 K) bits: 149 for 64 images and 5 exits)
    -> gr-fec's K = 7 rate-1/2 convolutional code (the header's, terminated)
    -> the coded block :data:`REPETITIONS` times, each coded bit c as the real value 1 - 2c

and ``check`` is the low 15 bits of the CRC-16/CCITT of the map's bits: the header's CRC-32
protects it, so a map that decodes wrongly (or a header for another batch) is caught with
probability 1 - 2^-15 and no image is routed by it. Sending each exit's images as a batch of
their own would name the exit in the codec field directly but cost one 1332-symbol header
per exit; the map costs 3 x 2 (149 + 6) / 2 = 465 symbols for 64 images.

Receiving: each value's LLR is 2 y / sigma^2 (a real value +-1 in Gaussian noise of
variance sigma^2; erased values 0), the copies are added and Viterbi-decoded.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from phydnn.link.crc import crc16_bits

__all__ = ["MIXED", "REPETITIONS", "decode_exit_map", "encode_exit_map", "exit_map_bits",
           "exit_map_values", "field_exits", "map_columns"]

MIXED = 0x8000
REPETITIONS = 3
_LOCAL = threading.local()


def exit_map_bits(n_images: int, exits: int) -> int:
    """Information bits of the map of ``n_images`` images over ``exits`` exits."""
    return max(1, (exits ** n_images - 1).bit_length())


def exit_map_values(n_images: int, exits: int) -> int:
    """Real values the map of a mixed batch puts on air (coded, repeated)."""
    return REPETITIONS * 2 * (exit_map_bits(n_images, exits) + 6)


def _code(k: int):
    """This thread's gr-fec convolutional code over k bits (a gr-fec coder holds state)."""
    codes = _LOCAL.__dict__.setdefault("codes", {})
    if k not in codes:
        from phydnn.fec import ConvolutionalCode
        codes[k] = ConvolutionalCode(k, "1/2")
    return codes[k]


def _pack(exits: np.ndarray, k_exits: int) -> np.ndarray:
    value = 0
    for e in reversed(exits.tolist()):
        value = value * k_exits + int(e)
    n_bits = exit_map_bits(len(exits), k_exits)
    return np.array([(value >> (n_bits - 1 - i)) & 1 for i in range(n_bits)], np.uint8)


def _unpack(bits: np.ndarray, n_images: int, k_exits: int) -> np.ndarray | None:
    value = int("".join(map(str, bits.tolist())), 2)
    if value >= k_exits ** n_images:
        return None
    out = np.empty(n_images, np.int64)
    for i in range(n_images):
        value, out[i] = divmod(value, k_exits)
    return out


def _check(bits: np.ndarray) -> int:
    crc = crc16_bits(bits[None])[0]
    return int((crc << np.arange(15, -1, -1)).sum()) & (MIXED - 1)


def encode_exit_map(exits: np.ndarray, k_exits: int) -> tuple[int, np.ndarray]:
    """Exits (N,) 0-based -> (codec field, the map's real values: empty for one exit)."""
    exits = np.asarray(exits, np.int64)
    if exits.size == 0 or exits.min() < 0 or exits.max() >= k_exits:
        raise ValueError(f"exits must be in 0..{k_exits - 1}")
    if (exits == exits[0]).all():
        return int(exits[0]) + 1, np.zeros(0, np.float32)
    bits = _pack(exits, k_exits)
    coded = _code(len(bits)).encode(bits[None])[0]
    values = np.tile(1.0 - 2.0 * coded.astype(np.float32), REPETITIONS)
    return MIXED | _check(bits), values


def field_exits(codec_field: int, k_exits: int) -> int | None:
    """The single exit (0-based) a codec field names, None for a mixed batch; ValueError for
    a field no transmitter of ``k_exits`` exits sends."""
    if codec_field & MIXED:
        return None
    if not 1 <= codec_field <= k_exits:
        raise ValueError(f"codec field {codec_field}: this multi-exit codec names exits "
                         f"1..{k_exits} or a mixed batch (bit 15)")
    return codec_field - 1


def decode_exit_map(codec_field: int, values: np.ndarray, noise_var: np.ndarray,
                    erased: np.ndarray, n_images: int, k_exits: int) -> np.ndarray | None:
    """The exits (N,) 0-based from the codec field and the received map values (at least
    :func:`exit_map_values` of them, in order), or None where the map fails its check."""
    single = field_exits(codec_field, k_exits)
    if single is not None:
        return np.full(n_images, single, np.int64)
    n = exit_map_values(n_images, k_exits)
    if len(values) < n:
        return None
    llr = np.where(erased[:n], 0.0, 2.0 * values[:n] / np.maximum(noise_var[:n], 1e-6))
    llr = llr.reshape(REPETITIONS, -1).sum(0).astype(np.float32)
    if not np.any(llr):
        return None
    bits = _code(exit_map_bits(n_images, k_exits)).decode(llr[None])[0]
    if _check(bits) != codec_field & (MIXED - 1):
        return None
    return _unpack(bits, n_images, k_exits)


def map_columns(n_images: int, k_exits: int) -> int:
    """Extra values per image that hold a mixed batch's map (spread over the rows): real
    values of an analog payload (two per symbol), or PSK symbols of a psk payload (one +-1
    value each, on two antipodal points)."""
    return math.ceil(exit_map_values(n_images, k_exits) / n_images)


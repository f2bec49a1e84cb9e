"""Payload kinds on air (DESIGN.md "Codecs"): how a codec's values become the data symbols of
a batch, how pilots are placed among them, and how received symbols become what the codec's
receiver takes (numpy; no GNU Radio, no codec).

- ``psk``: value k (a point index) -> point k of M-PSK (unit peak power). Back: the symbol.
- ``bits``: bits, b = bits per symbol at a time (MSB first), Gray-labelled onto BPSK (bit 0 ->
  +1) or QPSK (00, 01, 11, 10 counter-clockwise from pi/4, so neighbours differ in one bit).
  Back: exact LLRs log p(b = 0 | y) / p(b = 1 | y) = logsumexp over the points with the bit 0
  of -|y - s|^2 / sigma^2 minus the same over bit 1.
- ``analog``: values 2i, 2i+1 -> (v_2i + j v_2i+1) / sqrt(2): |v| <= 1 keeps the peak power at
  1, the Es/N0 of PSK. Back: sqrt(2) (Re y, Im y), each with noise variance sigma^2 (the
  complex noise variance per symbol: sigma^2 / 2 per part, times 2). Within each segment a
  known pilot symbol (:data:`PILOT`, power 1) goes before every P data symbols and one after
  the last, so that the receiver tracks gain and phase on a payload that is not PSK.
- Dense ``psk`` (8 points or more) carries the link's own pilots, one before every
  :data:`DENSE_PILOT_SPACING` data symbols (:func:`link_pilot_spacing`), as DVB-S2 (ETSI EN
  302 307, Sec. 5.5.3) adds pilot blocks to its 8PSK and APSK frames: at low Es/N0 a 16-PSK
  payload holds almost no phase information of its own (the decisions are nearly random
  within +-pi/16, so a decision-directed estimate has no gain), while the residual frequency
  the header leaves (about 1e-5 cycles per symbol at 0 dB) turns a 12 544-symbol segment by
  some 40 degrees, four times the half-spacing of the points. The codecs' budgets count data
  symbols; these pilots are framing (3 %), like the preamble and the header.

Shapes: values (N, L) per batch; data symbols (N, S) with S = :func:`symbols_per_image`.
"""

from __future__ import annotations

import math

import numpy as np

from phydnn.codecs.base import PayloadSpec, RxPayload
from phydnn.phy.constellation import psk_points

__all__ = ["DENSE_PILOT_SPACING", "PILOT", "constellation", "data_length", "insert_pilots",
           "link_pilot_spacing", "map_values", "on_air_length", "pilot_count", "pilot_index",
           "remove_pilots", "symbols_per_image", "unmap_symbols"]

PILOT = np.complex64(1.0)
DENSE_PILOT_SPACING = 32   # data symbols per link pilot of a psk payload of 8 points or more
DENSE_ORDER = 8            # the PSK order from which the link adds its pilots
_SQRT2 = np.float32(math.sqrt(2.0))


def constellation(spec: PayloadSpec) -> np.ndarray:
    """The points data symbols are drawn from (analog: none, an empty array)."""
    if spec.kind == "analog":
        return np.zeros(0, np.complex64)
    return psk_points(1 << spec.bits_per_symbol).astype(np.complex64)


def _gray_labels(bits_per_symbol: int) -> np.ndarray:
    """Bit label (as an integer) of each point index: the Gray code k ^ (k >> 1)."""
    k = np.arange(1 << bits_per_symbol)
    return k ^ (k >> 1)


def symbols_per_image(spec: PayloadSpec, values: int) -> int:
    """Data symbols that carry ``values`` values of one image."""
    if spec.kind == "psk":
        return values
    per = 2 if spec.kind == "analog" else spec.bits_per_symbol
    return -(-values // per)


def map_values(spec: PayloadSpec, values: np.ndarray) -> np.ndarray:
    """Values (N, L) -> data symbols (N, S) complex64 (the last symbol of an image is padded
    with zero values / zero bits)."""
    values = np.asarray(values)
    n, length = values.shape
    s = symbols_per_image(spec, length)
    if spec.kind == "psk":
        order = 1 << spec.bits_per_symbol
        if values.size and (values.min() < 0 or values.max() >= order):
            raise ValueError(f"psk values must be point indices in [0, {order})")
        return constellation(spec)[values.astype(np.int64)]
    if spec.kind == "analog":
        v = np.zeros((n, 2 * s), np.float32)
        v[:, :length] = np.clip(values, -1.0, 1.0)
        return ((v[:, 0::2] + 1j * v[:, 1::2]) / _SQRT2).astype(np.complex64)
    b = spec.bits_per_symbol
    bits = np.zeros((n, s * b), np.uint8)
    bits[:, :length] = values
    if bits.size and bits.max() > 1:
        raise ValueError("bits values must be 0 or 1")
    label = (bits.reshape(n, s, b) << np.arange(b - 1, -1, -1)).sum(-1)
    index = np.argsort(_gray_labels(b))[label]
    return constellation(spec)[index]


def unmap_symbols(spec: PayloadSpec, symbols: np.ndarray, noise_var: np.ndarray,
                  values: int, codec_field: int = 0) -> RxPayload:
    """Received data symbols (N, S) (NaN where erased) and their complex noise variance ->
    what the codec takes for ``values`` values per image (see the module docstring). Erased
    values come as 0 (LLR 0) with noise variance 1 and flagged in ``erased``: receivers
    decide what to fill there, never what to do with NaN."""
    n = symbols.shape[0]
    erased_sym = np.isnan(symbols.real)
    nv = np.where(erased_sym | ~(noise_var > 0), 1.0, noise_var).astype(np.float32)
    y = np.where(erased_sym, 0, symbols).astype(np.complex64)
    if spec.kind == "psk":
        return RxPayload("psk", y[:, :values], nv[:, :values], erased_sym[:, :values],
                         codec_field)
    if spec.kind == "analog":
        out = np.empty((n, 2 * y.shape[1]), np.float32)
        out[:, 0::2], out[:, 1::2] = y.real * _SQRT2, y.imag * _SQRT2
        return RxPayload("analog", out[:, :values], np.repeat(nv, 2, 1)[:, :values],
                         np.repeat(erased_sym, 2, 1)[:, :values], codec_field)
    b = spec.bits_per_symbol
    pts = constellation(spec)
    metric = -np.abs(y[..., None] - pts) ** 2 / nv[..., None]        # (N, S, M)
    labels = _gray_labels(b)
    llr = np.empty((n, y.shape[1], b), np.float32)
    for i in range(b):
        one = (labels >> (b - 1 - i)) & 1 == 1
        llr[..., i] = _logsumexp(metric[..., ~one]) - _logsumexp(metric[..., one])
    llr[erased_sym] = 0.0
    return RxPayload("bits", llr.reshape(n, -1)[:, :values],
                     np.repeat(nv, b, 1)[:, :values], np.repeat(erased_sym, b, 1)[:, :values],
                     codec_field)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(-1)
    return m + np.log(np.exp(x - m[..., None]).sum(-1))


def link_pilot_spacing(kind: str, bits_per_symbol: int, codec_spacing: int = 0) -> int:
    """Data symbols per pilot on air for a payload: the codec's for ``analog``,
    :data:`DENSE_PILOT_SPACING` for ``psk`` of :data:`DENSE_ORDER` points or more, none
    otherwise. The transmitter frames by it and the header must carry exactly it."""
    if kind == "analog":
        return int(codec_spacing)
    if kind == "psk" and (1 << int(bits_per_symbol)) >= DENSE_ORDER:
        return DENSE_PILOT_SPACING
    return 0


def pilot_count(n_data: int, spacing: int) -> int:
    """Pilots in a segment of ``n_data`` data symbols: one before every ``spacing``, one
    after the last."""
    return -(-n_data // spacing) + 1 if spacing else 0


def on_air_length(n_data: int, spacing: int) -> int:
    """Payload symbols on air for ``n_data`` data symbols."""
    return n_data + pilot_count(n_data, spacing)


def data_length(n_on_air: int, spacing: int) -> int | None:
    """Inverse of :func:`on_air_length` (None where no data length gives ``n_on_air``)."""
    if not spacing:
        return n_on_air
    guess = max((n_on_air - 1) * spacing // (spacing + 1), 0)
    for d in (guess, guess + 1, guess - 1):
        if d >= 0 and on_air_length(d, spacing) == n_on_air:
            return d
    return None


def pilot_index(n_data: int, spacing: int) -> np.ndarray:
    """Positions of the pilots in the on-air payload of ``n_data`` data symbols."""
    k = np.arange(pilot_count(n_data, spacing))
    pos = k * (spacing + 1)
    pos[-1] = on_air_length(n_data, spacing) - 1
    return pos


def insert_pilots(data: np.ndarray, spacing: int) -> np.ndarray:
    """Data symbols of one segment -> its on-air payload (pilots placed)."""
    if not spacing:
        return np.asarray(data, np.complex64)
    out = np.empty(on_air_length(len(data), spacing), np.complex64)
    mask = np.zeros(len(out), bool)
    mask[pilot_index(len(data), spacing)] = True
    out[mask] = PILOT
    out[~mask] = data
    return out


def remove_pilots(payload: np.ndarray, spacing: int) -> np.ndarray:
    """On-air payload -> its data symbols (a payload whose length no data length gives:
    ValueError)."""
    if not spacing:
        return payload
    n = data_length(len(payload), spacing)
    if n is None:
        raise ValueError(f"{len(payload)} payload symbols do not fit pilots every {spacing}")
    mask = np.ones(len(payload), bool)
    mask[pilot_index(n, spacing)] = False
    return payload[mask]

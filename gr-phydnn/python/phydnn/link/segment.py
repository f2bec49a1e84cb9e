"""Segmentation of a batch's data symbols into framed segments, and their reassembly.

A batch of N images is N x S data symbols (row-major: image, then symbol; S = symbols per
image, in the header). It is cut into ``seg_count = ceil(total / max_payload)`` segments of
equal length ``ceil(total / seg_count)`` (the last one shorter), so that a receiver can place
any segment from its header alone (paper 003 Fig. 5: segments, each with its own PHY header).
A frame is preamble + header + payload (the segment's data symbols, with pilots for an analog
payload: :mod:`phydnn.link.payload`, scrambled: :mod:`phydnn.link.scrambler`); the framer
adds zero symbols after it so that the pulse-shaping filter empties before the burst ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from phydnn.codecs.base import PayloadSpec
from phydnn.link.header import HEADER_SYMBOLS, MAX_PAYLOAD, HeaderError, PhyHeader, encode_header
from phydnn.link.payload import insert_pilots, link_pilot_spacing, map_values, on_air_length
from phydnn.link.preamble import PREAMBLE, RAMP
from phydnn.link.scrambler import scramble

__all__ = ["DEFAULT_MAX_PAYLOAD", "FRAME_PAD", "LEAD_RAMP", "MAX_BATCH_IMAGES", "ReceivedBatch",
           "Reassembler", "frame_length", "frame_payload", "frame_symbols", "segment_batch",
           "segment_layout", "segment_payload"]

FRAME_PAD = 16   # zero symbols after every frame: the TX pulse-shaping filter empties in-burst
MAX_BATCH_IMAGES = 4096   # a receiver sizes no batch beyond this (a header could claim 65535)
LEAD_RAMP = 512  # ramp symbols before the first frame of a batch: after the gap between
                 # batches the receiver's timing loop (bandwidth 0.005) must settle again.
                 # At 0 dB Es/N0 (CFO 1e-3, 50 ppm) every frame lost was a batch's first:
                 # 4 of 240 with the preamble's 32 alone, 2 with 256 more, 0 with 512
DEFAULT_MAX_PAYLOAD = 16384  # data symbols per segment: preamble (159), coded header (1332) and
                             # pad (16) are 8.4 % of a full frame on air


def segment_layout(total: int, max_payload: int) -> tuple[int, int]:
    """(segment count, nominal segment length) for ``total`` data symbols."""
    if total < 1:
        raise ValueError("a batch needs at least one symbol")
    if not 1 <= max_payload <= MAX_PAYLOAD:
        raise ValueError(f"max_payload must be in 1..{MAX_PAYLOAD}, got {max_payload}")
    count = math.ceil(total / max_payload)
    return count, math.ceil(total / count)


def segment_batch(data: np.ndarray, batch_id: int, n_images: int, fingerprint: str,
                  bits_per_symbol: int, max_payload: int, **fields: int | str
                  ) -> list[tuple[PhyHeader, np.ndarray]]:
    """Headers and data slices (point indices or data symbols) of every segment of one
    batch; ``fields`` are the header's codec fields (codec_id, kind, pilot_spacing,
    codec_field). ``max_payload`` bounds a segment's data symbols; its header counts the
    payload on air (pilots included: the codec's pilot_spacing for analog, the link's for
    dense PSK, :func:`~phydnn.link.payload.link_pilot_spacing`)."""
    flat = np.asarray(data).reshape(-1)
    if len(flat) % n_images:
        raise ValueError(f"{len(flat)} data symbols do not split into {n_images} images")
    fields["pilot_spacing"] = link_pilot_spacing(str(fields.get("kind", "psk")),
                                                 bits_per_symbol,
                                                 int(fields.get("pilot_spacing", 0)))
    count, length = segment_layout(len(flat), max_payload)
    base = PhyHeader(fingerprint[:8], batch_id % 65536, 0, count, 1, n_images, bits_per_symbol,
                     len(flat) // n_images, **fields)
    out = []
    for i in range(count):
        part = flat[i * length:(i + 1) * length]
        n_air = on_air_length(len(part), base.pilot_spacing)
        out.append((replace(base, seg_index=i, n_symbols=n_air).check(), part))
    return out


def segment_payload(spec: PayloadSpec, values: np.ndarray, batch_id: int, fingerprint: str,
                    max_payload: int, codec_id: int = 1, codec_field: int = 0
                    ) -> list[tuple[PhyHeader, np.ndarray]]:
    """A batch's values (N, L) of any payload kind -> the headers and data symbols of its
    segments (:func:`~phydnn.link.payload.map_values`, then :func:`segment_batch`)."""
    data = map_values(spec, values)
    return segment_batch(data, batch_id, len(data), fingerprint, spec.bits_per_symbol,
                         max_payload, codec_id=codec_id, kind=spec.kind,
                         pilot_spacing=spec.pilot_spacing, codec_field=codec_field)


def frame_length(n_payload: int, pad: int = FRAME_PAD) -> int:
    """Symbols on air for a segment of ``n_payload`` payload symbols (pilots included)."""
    return len(PREAMBLE) + HEADER_SYMBOLS + n_payload + pad


def frame_payload(header: PhyHeader, data: np.ndarray, pad: int = 0,
                  lead: int = 0) -> np.ndarray:
    """Preamble + header + payload (data symbols, pilots placed) + ``pad`` zeros; ``lead``
    more ramp symbols before the preamble (:data:`LEAD_RAMP`, for a frame after a gap)."""
    ramp = np.resize(RAMP, lead - lead % 2)        # even: alternates on into the preamble
    return np.concatenate([ramp, PREAMBLE, encode_header(header),
                           scramble(insert_pilots(data, header.pilot_spacing)),
                           np.zeros(pad, dtype=np.complex64)])


def frame_symbols(header: PhyHeader, points: np.ndarray, constellation: np.ndarray,
                  pad: int = 0) -> np.ndarray:
    """A frame of M-PSK point indices (:func:`frame_payload` of their points)."""
    return frame_payload(header, np.asarray(constellation, dtype=np.complex64)[
        np.asarray(points)], pad)


@dataclass
class ReceivedBatch:
    """A reassembled batch: the data symbols of every image (NaN where erased), the noise
    variance per symbol (normalised to unit symbol power), its bookkeeping, and the header
    fields that say how to read it (``header``: any of its segments' headers)."""

    batch_id: int
    n_images: int
    symbols: np.ndarray
    noise_var: np.ndarray
    segments_expected: int
    segments_missing: list[int] = field(default_factory=list)
    snr_db: float = float("nan")
    header: PhyHeader | None = None

    @property
    def partial(self) -> bool:
        return bool(self.segments_missing)

    def erased(self) -> np.ndarray:
        """Per image: True where any of its positions was filled."""
        return np.isnan(self.symbols.real).reshape(self.n_images, -1).any(1)


class Reassembler:
    """Collects segments by batch id; a batch is complete when all segments arrived, or is
    flushed (erasures filled) when a later batch is seen ``window`` batches on, or at the end.

    ``positions`` is the data symbols per image the receiver expects: a number, a function of
    the header (the codec field may change it from batch to batch), or None (take the
    header's). A segment whose geometry does not fit (symbols per image, length or count
    against the header's image count), or that claims more than ``max_images`` images, is
    refused by :meth:`add` before anything is allocated for it. Segments with the same batch
    id but another layout (images, symbols per image, codec field) start a new batch.
    """

    def __init__(self, positions: int | Callable[[PhyHeader], int] | None = None,
                 window: int = 2, max_images: int = MAX_BATCH_IMAGES) -> None:
        self.positions, self.window, self.max_images = positions, window, int(max_images)
        self._open: dict[int, dict] = {}
        self._order: list[int] = []

    def add(self, header: PhyHeader, symbols: np.ndarray,
            noise_var: float) -> list[ReceivedBatch]:
        """Place one segment's data symbols (pilots removed); returns the batches that this
        completes or pushes out.

        Raises :class:`~phydnn.link.header.HeaderError` (``images``, ``geometry``) for a
        segment that cannot belong to a batch of this receiver."""
        if header.n_images > self.max_images:
            raise HeaderError("images", f"{header.n_images} images in a batch, this receiver "
                              f"takes at most {self.max_images}")
        per_image = self._per_image(header)
        total = header.n_images * per_image
        count = header.seg_count
        length = math.ceil(total / count)
        expected_len = min(length, total - header.seg_index * length)
        if per_image != header.per_image or count > total \
                or math.ceil(total / length) != count \
                or header.n_symbols != on_air_length(expected_len, header.pilot_spacing) \
                or len(symbols) != expected_len:
            raise HeaderError("geometry", f"segment {header.seg_index} of {count} with "
                              f"{header.n_symbols} symbols does not fit {header.n_images} "
                              f"images of {per_image} symbols")
        key = header.batch_id
        entry = self._open.get(key)
        layout = (header.n_images, header.per_image, header.codec_field, header.kind)
        if entry is None or entry["layout"] != layout:
            entry = {"layout": layout, "header": header, "n_images": header.n_images,
                     "count": count, "length": length,
                     "sym": np.full(total, np.nan + 1j * np.nan, dtype=np.complex64),
                     "nv": np.full(total, np.nan, dtype=np.float32), "seen": set(), "nvs": []}
            self._open[key] = entry
            self._order = [k for k in self._order if k != key] + [key]
        start = header.seg_index * length
        entry["sym"][start:start + expected_len] = symbols
        entry["nv"][start:start + expected_len] = noise_var
        entry["seen"].add(header.seg_index)
        entry["nvs"].append(noise_var)
        done = [self._close(key)] if len(entry["seen"]) == count else []
        while len(self._order) > self.window:
            done.append(self._close(self._order[0]))
        return done

    def _per_image(self, header: PhyHeader) -> int:
        if self.positions is None:
            return header.per_image
        if callable(self.positions):
            return int(self.positions(header))
        return int(self.positions)

    def flush(self) -> list[ReceivedBatch]:
        """Close every open batch (end of the stream or an idle timeout)."""
        return [self._close(k) for k in list(self._order)]

    def _close(self, key: int) -> ReceivedBatch:
        e = self._open.pop(key)
        self._order.remove(key)
        missing = sorted(set(range(e["count"])) - e["seen"])
        snr = -10 * math.log10(float(np.mean(e["nvs"])))  # unit symbol power / mean noise
        return ReceivedBatch(key, e["n_images"], e["sym"], e["nv"], e["count"], missing, snr,
                             e["header"])

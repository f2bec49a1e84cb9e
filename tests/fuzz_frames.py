"""Valid and mutated frames for the robustness tests, and what a receiver must say of each.

Every mutation breaks exactly one thing a receiver checks, so the reason it must give is known:
header bits flipped after the CRC was computed (``crc``), a burst cut inside the header's first
copy of the coded bits (``crc``), after it (``truncated``: the copies that arrived still give
the header) or inside the payload (``truncated``), absurd length, count or image fields with a
valid CRC (``truncated``, ``length``, ``images``, ``geometry``, ``segment``), wrong bits per
symbol, magic or version (their own reasons), another model's fingerprint (``wrong_model``), and
the fields of header v2: an unknown payload kind (``kind``), pilots on a QPSK payload
(``pilots``; 8- and 16-PSK must carry the link's, so their wrong-bits mutations state
them), codec id 0 (``codec``) or another codec's id (``wrong_codec``), a codec field the
PhyDNN receiver does not serve (``codec_field``), symbols per image that are not the model's
(``geometry``), and a version-1 or version-2 header, uncoded, as those transmitters sent them
(``version``). Frames are one symbol per sample; :func:`shape` pulse-shapes them.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from phydnn.link.header import (
    CODED_BITS,
    HEADER_SYMBOLS,
    MAGIC,
    VERSION,
    encode_header_bytes,
    encode_legacy_header,
)
from phydnn.link.header import header_bytes as _header_bytes
from phydnn.link.payload import link_pilot_spacing
from phydnn.link.preamble import PREAMBLE
from phydnn.link.segment import FRAME_PAD, MAX_BATCH_IMAGES
from phydnn.phy.constellation import psk_points

POSITIONS = 784          # the shipped Fashion-MNIST PhyDNN: one image = one 784-symbol segment
GAP = 1000               # zeros after a burst that is followed by silence
TAIL_MIN = 200           # a shorter length claim than the payload still ends in its signal
KINDS = ("bitflip", "cut_header", "cut_header_copy", "cut_payload", "long", "short",
         "zero_length", "count", "images", "bits_per_symbol", "magic", "version", "fingerprint",
         "kind", "pilots", "codec", "other_codec", "codec_field", "per_image", "version1",
         "version2")


@dataclass
class Frame:
    symbols: np.ndarray       # complex64, one per symbol, gap included
    reason: str | None        # what a receiver must refuse it for; None: a valid frame


def header_bytes(fingerprint: str, batch_id: int, seg_index: int = 0, seg_count: int = 1,
                 n_symbols: int = POSITIONS, n_images: int = 1, bits_per_symbol: int = 2,
                 magic: int = MAGIC, version: int = VERSION, **fields: int) -> bytes:
    """A one-image segment's header bytes with a valid CRC over whatever fields are given
    (``fields``: per_image, codec_id, kind, pilot_spacing, codec_field)."""
    return _header_bytes(fingerprint, batch_id, seg_index, seg_count, n_symbols, n_images,
                         bits_per_symbol, magic, version, **{"per_image": POSITIONS, **fields})


def frame(header: bytes, payload: np.ndarray, gap: int = 0, legacy: bool = False) -> np.ndarray:
    coded = encode_legacy_header(header) if legacy else encode_header_bytes(header)
    if legacy:   # an older header is shorter: the payload follows it at once
        coded = coded[:HEADER_SYMBOLS]
    return np.concatenate([PREAMBLE, coded, payload,
                           np.zeros(FRAME_PAD + gap, np.complex64)]).astype(np.complex64)


def _geometry_is_wrong(n_images: int, seg_index: int, seg_count: int) -> bool:
    total = n_images * POSITIONS
    length = math.ceil(total / seg_count)
    expected = min(length, total - seg_index * length)
    return seg_count > total or math.ceil(total / length) != seg_count or expected != POSITIONS


def make_frame(kind: str | None, rng: np.random.Generator, fingerprint: str,
               batch_id: int) -> Frame:
    """One frame: valid (``kind`` None) or mutated by ``kind`` (one of :data:`KINDS`)."""
    payload = psk_points(4).astype(np.complex64)[rng.integers(0, 4, POSITIONS)]
    gap = int(rng.choice([0, GAP]))
    good = header_bytes(fingerprint, batch_id)
    if kind is None:
        return Frame(frame(good, payload, gap), None)
    if kind == "bitflip":
        bits = np.unpackbits(np.frombuffer(good, np.uint8))
        bits[rng.choice(len(bits), int(rng.integers(1, 4)), replace=False)] ^= 1
        return Frame(frame(np.packbits(bits).tobytes(), payload, gap), "crc")
    if kind in ("cut_header", "cut_header_copy"):
        # inside the first copy of the coded header, bits are missing: the CRC fails; after
        # it, the copies that arrived still give the header, and the payload is missing
        full = frame(good, payload)
        first = kind == "cut_header"
        cut = int(rng.integers(8, 128) if first else
                  rng.integers(CODED_BITS + 8, HEADER_SYMBOLS))
        return Frame(np.concatenate([full[:len(PREAMBLE) + cut], np.zeros(GAP, np.complex64)]),
                     "crc" if first else "truncated")
    if kind == "cut_payload":
        keep = int(rng.integers(0, POSITIONS - 200))
        return Frame(frame(good, payload[:keep], gap), "truncated")
    if kind == "long":
        n = int(rng.integers(POSITIONS + 200, 65536))
        return Frame(frame(header_bytes(fingerprint, batch_id, n_symbols=n), payload, gap),
                     "truncated")
    if kind == "short":
        n = int(rng.integers(TAIL_MIN, POSITIONS))
        return Frame(frame(header_bytes(fingerprint, batch_id, n_symbols=n), payload, gap),
                     "geometry")
    if kind == "zero_length":
        return Frame(frame(header_bytes(fingerprint, batch_id, n_symbols=0), payload, gap),
                     "length")
    if kind == "count":
        while True:
            count = int(rng.integers(2, 65536))
            index = int(rng.integers(0, count))
            n_images = int(rng.integers(1, MAX_BATCH_IMAGES + 1))
            if _geometry_is_wrong(n_images, index, count):
                break
        return Frame(frame(header_bytes(fingerprint, batch_id, index, count,
                                        n_images=n_images), payload, gap), "geometry")
    if kind == "images":
        n_images = int(rng.integers(MAX_BATCH_IMAGES + 1, 65536))
        return Frame(frame(header_bytes(fingerprint, batch_id, n_images=n_images), payload,
                           gap), "images")
    if kind == "bits_per_symbol":
        bps = int(rng.choice([0, 1, 3, 4, 5, 6, 7, 8, 9, 15]))
        pilots = link_pilot_spacing("psk", bps) if bps < 9 else 0   # else only "pilots"
        return Frame(frame(header_bytes(fingerprint, batch_id, bits_per_symbol=bps,
                                        pilot_spacing=pilots), payload, gap),
                     "bits_per_symbol")
    if kind == "magic":
        magic = int(rng.choice([m for m in range(256) if m != MAGIC]))
        return Frame(frame(header_bytes(fingerprint, batch_id, magic=magic), payload, gap),
                     "magic")
    if kind == "version":
        version = int(rng.choice([v for v in range(16) if v != VERSION]))
        return Frame(frame(header_bytes(fingerprint, batch_id, version=version), payload, gap),
                     "version")
    if kind == "fingerprint":
        other = "".join(rng.choice(list("0123456789abcdef"), 8))
        other = other if other != fingerprint else "00000000"
        return Frame(frame(header_bytes(other, batch_id), payload, gap), "wrong_model")
    return _v2_frame(kind, rng, fingerprint, batch_id, payload, gap)


def _v1_header(fingerprint: str, batch_id: int) -> bytes:
    """A valid version-1 header (16 bytes + CRC-32), as a transmitter before header v2 sent."""
    body = struct.pack(">BB4sHHHHH", MAGIC, 1 << 4 | 2, bytes.fromhex(fingerprint), batch_id,
                       0, 1, POSITIONS, 1)
    return body + struct.pack(">I", zlib.crc32(body))


def _v2_frame(kind: str, rng: np.random.Generator, fingerprint: str, batch_id: int,
              payload: np.ndarray, gap: int) -> Frame:
    """Mutations of the fields header v2 added."""
    def with_fields(**fields: int) -> bytes:
        return header_bytes(fingerprint, batch_id, **fields)

    if kind == "kind":
        return Frame(frame(with_fields(kind=int(rng.integers(3, 256))), payload, gap), "kind")
    if kind == "pilots":
        return Frame(frame(with_fields(pilot_spacing=int(rng.integers(1, 256))), payload, gap),
                     "pilots")
    if kind == "codec":
        return Frame(frame(with_fields(codec_id=0), payload, gap), "codec")
    if kind == "other_codec":
        return Frame(frame(with_fields(codec_id=int(rng.integers(2, 256))), payload, gap),
                     "wrong_codec")
    if kind == "codec_field":
        return Frame(frame(with_fields(codec_field=int(rng.integers(1, 65536))), payload, gap),
                     "codec_field")
    if kind == "per_image":
        per = int(rng.choice([p for p in range(1, 2 * POSITIONS) if p != POSITIONS]))
        return Frame(frame(with_fields(per_image=per), payload, gap), "geometry")
    if kind == "version1":
        return Frame(frame(_v1_header(fingerprint, batch_id), payload, gap, True), "version")
    if kind == "version2":
        return Frame(frame(header_bytes(fingerprint, batch_id, version=2), payload, gap, True),
                     "version")
    raise ValueError(f"unknown mutation {kind!r}")


def shape(symbols: np.ndarray, taps: np.ndarray, sps: int) -> np.ndarray:
    """Upsample by ``sps`` and filter with ``taps`` (the framer's RRC)."""
    up = np.zeros(len(symbols) * sps, np.complex64)
    up[::sps] = symbols
    return np.convolve(up, taps).astype(np.complex64)

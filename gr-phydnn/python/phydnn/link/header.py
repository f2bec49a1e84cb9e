"""The PHY header of a segment: what a receiver needs to place the segment's symbols.

Fields (DESIGN.md "PHY header"), 16 bytes big-endian, then a CRC-32 (zlib's, the polynomial
of GNU Radio's crc32 blocks) over them:

    magic u8 | version u4 + bits per symbol u4 | fingerprint 4 bytes | batch id u16 |
    segment index u16 | segment count u16 | payload symbols u16 | images in the batch u16

The 160 bits go on air as BPSK, the whole block repeated :data:`REPETITIONS` times (spread
over the header's duration, so a short fade or a phase error hits one copy); the receiver
adds the copies' soft values before deciding (a 4.8 dB gain), so the header survives where
the payload symbols are already noisy. Every field is validated before anything is sized
from it; a refusal names its reason (:class:`HeaderError`).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["HEADER_SYMBOLS", "MAGIC", "REPETITIONS", "VERSION", "HeaderError", "PhyHeader",
           "decode_header", "encode_header", "encode_header_bytes", "header_bytes"]

MAGIC = 0xA7
VERSION = 1
REPETITIONS = 3
MAX_PAYLOAD = 65535
_FMT = ">BB4sHHHHH"
_BYTES = struct.calcsize(_FMT) + 4
HEADER_BITS = _BYTES * 8
HEADER_SYMBOLS = HEADER_BITS * REPETITIONS


class HeaderError(ValueError):
    """A header that fails a check; ``reason`` is a short counter name (crc, magic, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class PhyHeader:
    """One segment's header. ``fingerprint`` is 8 hex digits (the first 4 bytes of the
    model fingerprint); ``n_symbols`` is this segment's payload length."""

    fingerprint: str
    batch_id: int
    seg_index: int
    seg_count: int
    n_symbols: int
    n_images: int
    bits_per_symbol: int

    def check(self) -> PhyHeader:
        """Raise :class:`HeaderError` unless every field is in range."""
        if not 1 <= self.bits_per_symbol <= 8:
            raise HeaderError("bits_per_symbol", f"{self.bits_per_symbol} not in 1..8")
        if not 1 <= self.seg_count <= 65535 or not 0 <= self.seg_index < self.seg_count:
            raise HeaderError("segment", f"index {self.seg_index} of {self.seg_count}")
        if not 1 <= self.n_symbols <= MAX_PAYLOAD:
            raise HeaderError("length", f"{self.n_symbols} payload symbols")
        if not 1 <= self.n_images <= 65535:
            raise HeaderError("images", f"{self.n_images} images")
        if not 0 <= self.batch_id <= 65535:
            raise HeaderError("batch_id", f"{self.batch_id} not in 0..65535")
        if len(self.fingerprint) != 8:
            raise HeaderError("fingerprint", "must be 8 hex digits")
        return self

    def pack(self) -> bytes:
        """The header bytes with their CRC-32 appended."""
        self.check()
        return header_bytes(self.fingerprint, self.batch_id, self.seg_index, self.seg_count,
                            self.n_symbols, self.n_images, self.bits_per_symbol)

    @classmethod
    def unpack(cls, data: bytes) -> PhyHeader:
        """Parse and check header bytes (CRC first, then every field)."""
        if len(data) != _BYTES:
            raise HeaderError("length", f"{len(data)} header bytes, expected {_BYTES}")
        body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
        if zlib.crc32(body) != crc:
            raise HeaderError("crc", "header CRC-32 mismatch")
        magic, vb, fp, batch, idx, count, nsym, nimg = struct.unpack(_FMT, body)
        if magic != MAGIC:
            raise HeaderError("magic", f"0x{magic:02x}")
        if vb >> 4 != VERSION:
            raise HeaderError("version", f"{vb >> 4}, this receiver speaks {VERSION}")
        return cls(fp.hex(), batch, idx, count, nsym, nimg, vb & 0x0F).check()


def header_bytes(fingerprint: str, batch_id: int, seg_index: int, seg_count: int,
                 n_symbols: int, n_images: int, bits_per_symbol: int, magic: int = MAGIC,
                 version: int = VERSION) -> bytes:
    """The 20 header bytes (fields, then their CRC-32) of any field values, unchecked:
    :meth:`PhyHeader.pack` checks first; a test sends bad headers with it."""
    body = struct.pack(_FMT, magic, (version << 4 | bits_per_symbol) & 0xFF,
                       bytes.fromhex(fingerprint), batch_id, seg_index, seg_count, n_symbols,
                       n_images)
    return body + struct.pack(">I", zlib.crc32(body))


def encode_header(header: PhyHeader) -> np.ndarray:
    """BPSK symbols (complex64, +1 for bit 0) of the header, repeated block-wise."""
    return encode_header_bytes(header.pack())


def encode_header_bytes(data: bytes) -> np.ndarray:
    """BPSK symbols of any 20 header bytes (CRC included), unchecked: what a test sends to
    see a receiver refuse a header."""
    if len(data) != _BYTES:
        raise ValueError(f"a header is {_BYTES} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    return np.tile(1.0 - 2.0 * bits.astype(np.float32), REPETITIONS).astype(np.complex64)


def decode_header(symbols: np.ndarray) -> tuple[PhyHeader, np.ndarray]:
    """Header from :data:`HEADER_SYMBOLS` phase-corrected received symbols.

    Returns the header and the BPSK symbols it was sent as (known symbols for the noise
    estimate). Raises :class:`HeaderError` with a reason when a check fails.
    """
    if len(symbols) != HEADER_SYMBOLS:
        raise HeaderError("truncated", f"{len(symbols)} of {HEADER_SYMBOLS} header symbols")
    soft = np.real(symbols).reshape(REPETITIONS, HEADER_BITS).sum(0)
    bits = (soft < 0).astype(np.uint8)
    header = PhyHeader.unpack(np.packbits(bits).tobytes())
    return header, np.tile(1.0 - 2.0 * bits.astype(np.float32), REPETITIONS).astype(np.complex64)

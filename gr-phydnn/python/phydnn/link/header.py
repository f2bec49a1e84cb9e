"""The PHY header of a segment (version 3): what a receiver needs to place the segment's
symbols and to hand them to the right codec.

Fields (DESIGN.md "PHY header", "Codecs"), 23 bytes big-endian, then a CRC-32 (zlib's, the
polynomial of GNU Radio's crc32 blocks) over them:

    magic u8 | version u4 + bits per symbol u4 | codec id u8 | payload kind u8 |
    pilot spacing u8 | fingerprint 4 bytes | batch id u16 | segment index u16 |
    segment count u16 | payload symbols u16 | images in the batch u16 |
    symbols per image u16 | codec field u16

``payload symbols`` is what this segment puts on air after the header (pilots included:
an analog payload's, and the link's own on psk payloads of 8 points or more, whose spacing
the header must state exactly, :func:`phydnn.link.payload.link_pilot_spacing`);
``symbols per image`` (data symbols, pilots excluded) may change from batch to batch, so the
receiver sizes a batch from the header, not from its model. The codec field is the codec's
own 16 bits (an exit index, an active-dimension count, a task or user id).

On air (version 3): the 216 bits are encoded with gr-fec's K = 7 rate-1/2 convolutional code
(polynomials 109 and 79, terminated: 444 coded bits, :class:`phydnn.fec.ConvolutionalCode`),
and the 444 coded bits go out as BPSK, the whole block sent :data:`REPETITIONS` times (spread
over the header's duration, so a short fade or a phase slip hits one copy): 1332 symbols.
The receiver adds the copies' soft values and decodes them with gr-fec's soft-decision
Viterbi decoder. Eb/N0 is Es/N0 + 7.9 dB, and the K = 7 code's soft-decision gain over
uncoded BPSK (about 5 dB at a word error rate of 1e-2) makes a header that holds at -3 dB
Es/N0 (two copies, 888 symbols, decoded 97 % of the headers there with ideal sync; in the
GNU Radio loopback, behind its timing loop, the third copy was needed), where the version-2
header (216 bits, plain three-fold repetition: Eb/N0 = Es/N0 + 4.8 dB, no coding gain) lost
93 % of the segments at 0 dB.

Every field is validated before anything is sized from it; a refusal names its reason
(:class:`HeaderError`). A frame from an older transmitter (version 1: 16 + 4 bytes, version
2: 23 + 4 bytes, both as three-fold repeated BPSK) is recognised when the v3 CRC fails and
refused under ``version``.

gr-fec is GNU Radio's library: it is loaded on first use (:mod:`phydnn.fec`), so importing the
link stays free of GNU Radio.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from phydnn.link.payload import link_pilot_spacing

__all__ = ["CODED_BITS", "HEADER_BITS", "HEADER_SYMBOLS", "KIND_CODES", "MAGIC", "REPETITIONS",
           "VERSION", "HeaderError", "PhyHeader", "decode_header", "encode_header",
           "encode_header_bytes", "encode_legacy_header", "header_bytes"]

MAGIC = 0xA7
VERSION = 3
REPETITIONS = 3              # copies of the coded header block
MAX_PAYLOAD = 65535
KIND_CODES = {"psk": 0, "analog": 1, "bits": 2}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
_LOCAL = threading.local()
_BITS_ALLOWED = {"psk": range(1, 9), "bits": range(1, 3), "analog": range(0, 1)}
_FMT = ">BBBBB4sHHHHHHH"
_BYTES = struct.calcsize(_FMT) + 4
HEADER_BITS = _BYTES * 8
CODED_BITS = 2 * (HEADER_BITS + 6)     # rate 1/2, K = 7, terminated
HEADER_SYMBOLS = CODED_BITS * REPETITIONS
# headers of older versions, three-fold repeated BPSK: (version, bytes without the CRC)
_OLD_HEADERS = ((1, 16), (2, _BYTES - 4))
_OLD_REPETITIONS = 3


class HeaderError(ValueError):
    """A header that fails a check; ``reason`` is a short counter name (crc, magic, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class PhyHeader:
    """One segment's header. ``fingerprint`` is 8 hex digits (the first 4 bytes of the
    model fingerprint); ``n_symbols`` is this segment's payload length on air (pilots
    included); ``per_image`` the data symbols of one image."""

    fingerprint: str
    batch_id: int
    seg_index: int
    seg_count: int
    n_symbols: int
    n_images: int
    bits_per_symbol: int
    per_image: int = 1
    codec_id: int = 1
    kind: str = "psk"
    pilot_spacing: int = 0
    codec_field: int = 0

    def check(self) -> PhyHeader:
        """Raise :class:`HeaderError` unless every field is in range."""
        if self.kind not in KIND_CODES:
            raise HeaderError("kind", f"payload kind {self.kind!r}")
        if self.bits_per_symbol not in _BITS_ALLOWED[self.kind]:
            raise HeaderError("bits_per_symbol", f"{self.bits_per_symbol} bits per symbol for "
                              f"a {self.kind} payload")
        if self.pilot_spacing > 255 or (self.pilot_spacing < 1 if self.kind == "analog" else
                                        self.pilot_spacing != link_pilot_spacing(
                                            self.kind, self.bits_per_symbol)):
            raise HeaderError("pilots", f"pilot spacing {self.pilot_spacing} for a "
                              f"{self.kind} payload")
        if not 1 <= self.codec_id <= 255:
            raise HeaderError("codec", f"codec id {self.codec_id} not in 1..255")
        if not 1 <= self.seg_count <= 65535 or not 0 <= self.seg_index < self.seg_count:
            raise HeaderError("segment", f"index {self.seg_index} of {self.seg_count}")
        if not 1 <= self.n_symbols <= MAX_PAYLOAD:
            raise HeaderError("length", f"{self.n_symbols} payload symbols")
        if not 1 <= self.n_images <= 65535:
            raise HeaderError("images", f"{self.n_images} images")
        if not 1 <= self.per_image <= 65535:
            raise HeaderError("geometry", f"{self.per_image} symbols per image")
        if not 0 <= self.batch_id <= 65535:
            raise HeaderError("batch_id", f"{self.batch_id} not in 0..65535")
        if not 0 <= self.codec_field <= 65535:
            raise HeaderError("codec_field", f"{self.codec_field} not in 0..65535")
        if len(self.fingerprint) != 8:
            raise HeaderError("fingerprint", "must be 8 hex digits")
        return self

    def pack(self) -> bytes:
        """The header bytes with their CRC-32 appended."""
        self.check()
        return header_bytes(self.fingerprint, self.batch_id, self.seg_index, self.seg_count,
                            self.n_symbols, self.n_images, self.bits_per_symbol,
                            per_image=self.per_image, codec_id=self.codec_id,
                            kind=KIND_CODES[self.kind], pilot_spacing=self.pilot_spacing,
                            codec_field=self.codec_field)

    @classmethod
    def unpack(cls, data: bytes) -> PhyHeader:
        """Parse and check header bytes (CRC first, then every field)."""
        if len(data) != _BYTES:
            raise HeaderError("length", f"{len(data)} header bytes, expected {_BYTES}")
        body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
        if zlib.crc32(body) != crc:
            raise HeaderError("crc", "header CRC-32 mismatch")
        (magic, vb, codec, kind, pilots, fp, batch, idx, count, nsym, nimg, per_image,
         field) = struct.unpack(_FMT, body)
        if magic != MAGIC:
            raise HeaderError("magic", f"0x{magic:02x}")
        if vb >> 4 != VERSION:
            raise HeaderError("version", f"{vb >> 4}, this receiver speaks {VERSION}")
        if kind not in KIND_NAMES:
            raise HeaderError("kind", f"payload kind code {kind}")
        return cls(fp.hex(), batch, idx, count, nsym, nimg, vb & 0x0F, per_image, codec,
                   KIND_NAMES[kind], pilots, field).check()


def header_bytes(fingerprint: str, batch_id: int, seg_index: int, seg_count: int,
                 n_symbols: int, n_images: int, bits_per_symbol: int, magic: int = MAGIC,
                 version: int = VERSION, per_image: int = 1, codec_id: int = 1,
                 kind: int = 0, pilot_spacing: int = 0, codec_field: int = 0) -> bytes:
    """The 27 header bytes (fields, then their CRC-32) of any field values, unchecked:
    :meth:`PhyHeader.pack` checks first; a test sends bad headers with it."""
    body = struct.pack(_FMT, magic, (version << 4 | bits_per_symbol) & 0xFF, codec_id, kind,
                       pilot_spacing, bytes.fromhex(fingerprint), batch_id, seg_index,
                       seg_count, n_symbols, n_images, per_image, codec_field)
    return body + struct.pack(">I", zlib.crc32(body))


def _code():
    """This thread's gr-fec convolutional code for the header (a gr-fec coder holds state
    while it works, so two receivers in one process must not share one)."""
    code = getattr(_LOCAL, "code", None)
    if code is None:
        from phydnn.fec import ConvolutionalCode
        code = _LOCAL.code = ConvolutionalCode(HEADER_BITS, "1/2")
    return code


def encode_header(header: PhyHeader) -> np.ndarray:
    """BPSK symbols (complex64, +1 for bit 0) of the coded header, repeated block-wise."""
    return encode_header_bytes(header.pack())


def encode_header_bytes(data: bytes) -> np.ndarray:
    """The version-3 symbols of any 27 header bytes (CRC included), unchecked: what a test
    sends to see a receiver refuse a header."""
    if len(data) != _BYTES:
        raise ValueError(f"a header is {_BYTES} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[None]
    return _bpsk(np.tile(_code().encode(bits)[0], REPETITIONS))


def encode_legacy_header(data: bytes) -> np.ndarray:
    """What a version-1 (20 bytes) or version-2 (27 bytes) transmitter sent: the header bits
    as BPSK, three copies, no code. For the tests of the ``version`` refusal."""
    if len(data) not in (n + 4 for _, n in _OLD_HEADERS):
        raise ValueError(f"a version-1 header is 20 bytes, a version-2 one 27, got {len(data)}")
    return _bpsk(np.tile(np.unpackbits(np.frombuffer(data, dtype=np.uint8)), _OLD_REPETITIONS))


def _bpsk(bits: np.ndarray) -> np.ndarray:
    return (1.0 - 2.0 * bits.astype(np.float32)).astype(np.complex64)


def _refuse_older(symbols: np.ndarray) -> None:
    """A frame whose header is a valid version-1 or version-2 one (three plain copies of its
    bits, a CRC-32 over its fields): refused under ``version``; anything else falls through."""
    for version, size in _OLD_HEADERS:
        bits = (size + 4) * 8
        soft = np.real(symbols[:bits * _OLD_REPETITIONS]).reshape(_OLD_REPETITIONS, bits).sum(0)
        data = np.packbits((soft < 0).astype(np.uint8)).tobytes()
        body, crc = data[:size], struct.unpack(">I", data[size:])[0]
        if zlib.crc32(body) == crc and body[0] == MAGIC and body[1] >> 4 == version:
            raise HeaderError("version", f"{version}, this receiver speaks {VERSION}")


def header_bits(symbols: np.ndarray, repetitions: int = REPETITIONS, coded: int = CODED_BITS,
                bits: int = HEADER_BITS) -> np.ndarray:
    """The header's information bits (uint8) from its ``repetitions`` x ``coded``
    phase-corrected received symbols: the copies' real parts added (soft values whose scale
    the decoder does not need), then this thread's gr-fec Viterbi decoder. The reference of
    gr-phydnn's C++ ``sync_kernels.header_bits``, which the Deframer uses."""
    if bits != HEADER_BITS or coded != CODED_BITS:
        raise ValueError(f"header_bits decodes the {HEADER_BITS}-bit header")
    soft = np.real(symbols).reshape(repetitions, coded).sum(0)
    return _code().decode(soft[None].astype(np.float32))[0]


def decode_header(symbols: np.ndarray, decode=header_bits) -> tuple[PhyHeader, np.ndarray]:
    """Header from :data:`HEADER_SYMBOLS` phase-corrected received symbols: Viterbi-decoded
    by ``decode`` (:func:`header_bits`, or a kernel with its arguments and result), then the
    CRC and every field checked.

    Returns the header and the BPSK symbols it was sent as (known symbols for the noise
    estimate). Raises :class:`HeaderError` with a reason when a check fails.
    """
    if len(symbols) != HEADER_SYMBOLS:
        raise HeaderError("truncated", f"{len(symbols)} of {HEADER_SYMBOLS} header symbols")
    bits = decode(symbols, REPETITIONS, CODED_BITS, HEADER_BITS)
    try:
        header = PhyHeader.unpack(np.packbits(bits).tobytes())
    except HeaderError as err:
        if err.reason == "crc":
            _refuse_older(symbols)
        raise
    return header, _bpsk(np.tile(_code().encode(bits[None])[0], REPETITIONS))

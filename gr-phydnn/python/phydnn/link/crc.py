"""CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final xor)
over bit arrays, vectorised over many codewords at once: the per-codeword check of the
separation baseline (a CRC per codeword tells the server which features it can trust).
The check value of the ASCII string "123456789" is 0x29B1 (the catalogue's)."""

from __future__ import annotations

import numpy as np

__all__ = ["CRC16_BITS", "crc16_bits", "crc16_ok"]

CRC16_BITS = 16
_POLY = 0x1021


def crc16_bits(bits: np.ndarray) -> np.ndarray:
    """(B, L) uint8 bits (MSB first) -> (B, 16) uint8 CRC bits (MSB first)."""
    bits = np.asarray(bits, np.uint8)
    reg = np.full(bits.shape[0], 0xFFFF, np.uint32)
    for i in range(bits.shape[1]):
        top = ((reg >> 15) & 1) ^ bits[:, i]
        reg = ((reg << 1) & 0xFFFF) ^ np.where(top == 1, _POLY, 0).astype(np.uint32)
    shifts = np.arange(CRC16_BITS - 1, -1, -1, dtype=np.uint32)
    return ((reg[:, None] >> shifts) & 1).astype(np.uint8)


def crc16_ok(bits_with_crc: np.ndarray) -> np.ndarray:
    """(B, L + 16) -> (B,) bool: the last 16 bits are the CRC of the others."""
    bits_with_crc = np.asarray(bits_with_crc, np.uint8)
    return (crc16_bits(bits_with_crc[:, :-CRC16_BITS])
            == bits_with_crc[:, -CRC16_BITS:]).all(1)

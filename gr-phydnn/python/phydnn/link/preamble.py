"""The preamble of every segment (paper 003 Sec. IV-A, Fig. 5: a PHY header for detection and
synchronisation; DESIGN.md: a known sequence with good autocorrelation, long enough for
detection at 0 dB).

Two parts, both BPSK (+1/-1 on the real axis):
- a ramp of alternating symbols, which gives the timing-error detector of the receiver's
  symbol synchroniser a transition every symbol to lock onto after a silence;
- the sync word, a 127-chip maximal-length sequence (x^7 + x^6 + 1): aperiodic sidelobes at
  most 9/127 of the peak, and 21 dB of correlation gain. The 63-chip word of header v2 let
  GNU Radio's corr_est miss 30 % of the frames at -3 dB Es/N0, and its fit on data came too
  close to a real word's (0.33 at -3 dB) to tell the two apart.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PREAMBLE", "RAMP", "SYNC_WORD", "m_sequence"]


def m_sequence(degree: int = 6, taps: tuple[int, ...] = (6, 5), seed: int = 1) -> np.ndarray:
    """A maximal-length sequence of 2**degree - 1 bits from a Fibonacci LFSR.

    ``taps`` are the exponents of the feedback polynomial (x^6 + x^5 + 1 is primitive).
    """
    state = [(seed >> i) & 1 for i in range(degree)]
    out = np.empty(2 ** degree - 1, dtype=np.uint8)
    for n in range(len(out)):
        out[n] = state[-1]
        fb = 0
        for t in taps:
            fb ^= state[t - 1]
        state = [fb] + state[:-1]
    return out


RAMP = np.tile(np.array([1, -1], dtype=np.complex64), 16)
SYNC_WORD = (1 - 2 * m_sequence(7, (7, 6)).astype(np.float32)).astype(np.complex64)
PREAMBLE = np.concatenate([RAMP, SYNC_WORD])

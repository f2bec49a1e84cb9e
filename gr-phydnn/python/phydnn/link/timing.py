"""Symbol timing recovery at sps samples per symbol: the numpy reference of gr-phydnn's C++
block ``symbol_timing_cc`` (gr-phydnn/lib/symbol_timing_cc_impl.cc), which the deframer
runs; the two are tested against each other (tests/qa_symbol_timing.py).

The loop (Gardner, IEEE Trans. Commun. 1986; Rice, "Digital Communications: A Discrete-Time
Approach", ch. 8):

* interpolation by a polyphase matched filter: the RRC taps designed at ``nfilters`` x sps
  samples per symbol, split into ``nfilters`` arms; the value at t = n + mu is arm
  a = round(mu nfilters) over x[n - L + 1 .. n]: y(n + a / N) = sum_j x[n - j] h[a + N j]
  (so a symbol at position t carries the input of sample t - (len(h) - 1) / (2 N));
* two interpolants per symbol: the symbol at t_k = t_(k-1) + T and the midpoint at
  t_(k-1) + T / 2, T the loop's instantaneous period;
* the Gardner error e_k = Re{conj(mid_k) (sym_(k-1) - sym_k)}, data-blind;
* the PI loop filter of GNU Radio's clock_tracking_loop (3.10), with the same gains for the
  same loop bandwidth, damping and TED gain: T_avg += beta e (held within ``max_deviation``
  of sps), T = T_avg + alpha e.

A plain Python loop, one symbol at a time: a reference, not a receiver (about 1e5 symbols
per second; the C++ block does the same work at the radio's rate).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["loop_gains", "polyphase_arms", "gardner_timing"]


def loop_gains(loop_bw: float, damping: float, ted_gain: float) -> tuple[float, float]:
    """(alpha, beta): the proportional and integral gains of clock_tracking_loop for a
    normalised natural frequency ``loop_bw`` (omega_n T, per symbol)."""
    wn, zw = loop_bw, damping * loop_bw
    k0, k1, sh = 2.0 / ted_gain, math.exp(-zw), math.sinh(zw)
    if damping > 1.0:
        cosx = math.cosh(wn * math.sqrt(damping * damping - 1.0))
    elif damping == 1.0:
        cosx = 1.0
    else:
        cosx = math.cos(wn * math.sqrt(1.0 - damping * damping))
    return k0 * k1 * sh, k0 * (1.0 - k1 * (sh + cosx))


def polyphase_arms(taps: np.ndarray, nfilters: int) -> np.ndarray:
    """(nfilters, L) arms of ``taps``, zero-padded to L a multiple of 4, each reversed for a
    dot product with x[n - L + 1 .. n]."""
    taps = np.asarray(taps, dtype=np.float32)
    length = -(-len(taps) // nfilters)
    length = -(-length // 4) * 4      # as the C++ block: whole 8-float vectors (the extra
                                      # taps, zeros, meet the oldest samples)
    padded = np.zeros(length * nfilters, dtype=np.float32)
    padded[:len(taps)] = taps
    return padded.reshape(length, nfilters).T[:, ::-1].copy()


def gardner_timing(x: np.ndarray, sps: int, loop_bw: float, damping: float, ted_gain: float,
                   max_deviation: float, nfilters: int, taps: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symbols, their positions (in samples of ``x``, the matched filter's delay included:
    a symbol at t carries sample t - delay; the first carries sample delay, where a
    transmitter's own RRC puts its first symbol) and the loop's average period
    after each, for samples ``x`` at ``sps`` per symbol (the C++ block's work on one
    stream)."""
    arms = polyphase_arms(taps, nfilters)
    length = arms.shape[1]
    delay = (len(taps) - 1) / (2 * nfilters)     # the matched filter's, in samples
    # an arm's worth of zeros before the first sample, which the first symbol carries
    x = np.concatenate([np.zeros(length - 1, np.complex64), np.asarray(x, np.complex64)])
    alpha, beta = (np.float32(g) for g in loop_gains(loop_bw, damping, ted_gain))
    lo, hi = np.float32(sps - max_deviation), np.float32(sps + max_deviation)
    avg = inst = np.float32(sps)
    last, prev = length - 1 + 2 * delay - sps, 0j   # the first symbol carries sample delay
    symbols, positions, periods = [], [], []

    def interpolate(t: float) -> complex:
        n = math.floor(t)
        arm = int((t - n) * nfilters + 0.5)   # the nearest arm, a half rounding up
        if arm == nfilters:
            arm, n = 0, n + 1
        return complex(np.dot(x[n - length + 1:n + 1], arms[arm]))

    while math.floor(last + float(inst)) + 1 < len(x):
        t_mid, t_sym = last + 0.5 * float(inst), last + float(inst)
        mid, sym = interpolate(t_mid), interpolate(t_sym)
        diff = prev - sym
        error = np.float32(mid.real) * np.float32(diff.real) + \
            np.float32(mid.imag) * np.float32(diff.imag)          # in float, as the C++
        avg = min(max(np.float32(avg + beta * error), lo), hi)
        inst = np.float32(avg + alpha * error)
        if inst <= 0:
            inst = avg
        symbols.append(sym)
        positions.append(t_sym)
        periods.append(float(avg))
        prev, last = sym, t_sym
    return (np.asarray(symbols, dtype=np.complex64), np.asarray(positions) - (length - 1),
            np.asarray(periods))

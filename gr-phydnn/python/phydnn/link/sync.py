"""Data-aided synchronisation of one segment at one sample per symbol (the part of the RX
that GNU Radio lacks: every segment's phase is resolved from its own preamble, so no phase
slip outlives a segment).

Given received symbols starting at the sync word (found by GNU Radio's corr_est), this module
1. estimates the complex gain and the residual frequency from the 127 known sync-word
   symbols;
2. tracks phase and frequency through header and payload with feed-forward block phase
   estimates (Viterbi & Viterbi M-th power: BPSK on the header, BPSK or QPSK on a psk or
   bits payload), unwrapped from the preamble's phase, and
   refines the frequency from their slope; a payload with pilots (analog, and dense PSK,
   which carries the link's, :mod:`phydnn.link.payload`) is tracked on its pilots instead:
   a line through their phases, then a moving mean of what it leaves over
   :data:`PILOT_WINDOW` pilots (analog) or :func:`dense_pilot_window` pilots (dense PSK, as
   many as its noise needs), drawn as a line between them;
3. decodes and checks the header (:mod:`phydnn.link.header`), and refuses one whose payload
   kind or bits per symbol are not what this receiver expects (when it expects one);
4. re-estimates the gain and the noise variance over the decoded header's known symbols, and
   from them designs the segment's MMSE equaliser where the channel has interference
   (:mod:`phydnn.link.equaliser`; the noise variance is then the equaliser's output's);
5. equalises the payload (where step 4 made an equaliser), then removes the scrambler's
   quarter turns (:mod:`phydnn.link.scrambler`) before tracking its phase;
6. refuses a payload that ends early: when the last :data:`TAIL_CHECK` symbols the header
   announced hold no signal (mean power under ``noise + SILENCE``, against ``1 + noise`` for
   symbols; at 0 dB Es/N0 that is 4 standard deviations from either side), or, on a payload
   with pilots, when the last :data:`TAIL_PILOTS` derotated pilots no longer add up to the
   pilot (the real part of their mean, 1 on a whole burst, under :data:`TAIL_PILOT_FIT`),
   the burst was cut and what follows is not this segment's.

The payload handed on is the segment's data symbols (pilots removed).

Output symbols are normalised to unit symbol power, so the noise variance is directly the
sigma^2 of Es/N0 = 1/sigma^2 (DESIGN.md "Definitions") that the soft receiver needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from phydnn.codecs.base import PayloadSpec
from phydnn.link.equaliser import EQ_TAPS, Equaliser, design_equaliser, estimate_channel
from phydnn.link.header import (
    HEADER_SYMBOLS,
    HeaderError,
    PhyHeader,
    decode_header,
    header_bits,
)
from phydnn.link.payload import PILOT, data_length, pilot_index
from phydnn.link.preamble import SYNC_WORD
from phydnn.link.scrambler import conj_chips
from phydnn.phy.constellation import psk_points

__all__ = ["HEADER_SPAN", "NUMPY_KERNELS", "SYNC_INSIDE", "SYNC_QUALITY", "HeaderState",
           "SegmentSync", "SyncResult", "estimate_from_known", "locate_sync_word",
           "payload_block", "squared_tone", "track"]

BPSK = np.array([1, -1], dtype=np.complex64)


HEADER_SPAN = len(SYNC_WORD) + HEADER_SYMBOLS   # sync word + header, in symbols
TAIL_CHECK = 128     # payload symbols at the end whose power tells a cut burst
SILENCE = 0.35       # power above the noise under which those symbols carry no signal
HEADER_BLOCK = 64    # header symbols per block phase estimate: the frequency is refined
                     # from the slope of ten of them (256 lost 6 % of the headers at 6 dB)
BLOCK = 256          # payload symbols per block phase estimate (at least 8 M): QPSK's 4th
                     # power estimate over 64 symbols cost 20 % more bit errors at 4 dB;
                     # longer at low SNR (payload_block)
MAX_BLOCK = 4096     # at -3 dB Es/N0 QPSK would need 5400 symbols per estimate, but over
                     # longer blocks the frequency error the header leaves turns a block
                     # too far (8192: SER 0.50 at -3 dB, 4096: 0.44, theory 0.42)
FREQ_SPAN = 4e-3     # cycles/symbol searched around the sync word's frequency estimate
SYNC_QUALITY = 0.12  # fit of a real sync word: 0.5 at 0 dB Es/N0, 0.33 at -3 dB, less with a
                     # frequency offset (2e-3 cycles/symbol turns the word by a quarter cycle:
                     # at -3 dB 0.2-0.3); on data or noise exponential with mean 1/127: over
                     # 0.12 once in 3e6 correlator tags
SYNC_INSIDE = 0.25   # fit above which a sync word inside a payload means the burst was cut:
                     # the correlator also fires on payload data, and with the real-time air's
                     # small work calls often enough that 0.12 refused 1 segment in 1000 at
                     # 12 dB (a data window over 0.12, then its "header" failing its CRC)
PILOT_WINDOW = 15    # pilots whose mean gives each pilot's phase (analog payloads; the least
                     # for dense PSK)
TAIL_PILOTS = 64     # last pilots that tell a cut burst with pilots (analog, dense PSK)
TAIL_PILOT_FIT = 0.5  # real part of their derotated mean under which they are not pilots: on
                      # a whole burst 1 +- sigma / sqrt(2 x 64) (5.7 standard deviations
                      # above at 0 dB Es/N0, 4 at -3 dB); on noise or on the next burst's
                      # symbols about 0.3 sigma or less (the phase fitted to the noise
                      # itself). Their power against the noise, as for PSK, refused 0.9 %
                      # of whole 16-PSK segments at 0 dB: 64 powers of mean 1 + sigma^2
                      # lie only 2.3 standard deviations above noise + 0.5


@dataclass
class HeaderState:
    """What the sync word and the header gave: carried into the payload."""

    header: PhyHeader
    phase: float
    freq: float
    amp: float
    noise_var: float
    equaliser: Equaliser | None = None


@dataclass
class SyncResult:
    header: PhyHeader
    payload: np.ndarray          # normalised data symbols (pilots removed)
    noise_var: float             # per symbol, after normalisation
    consumed: int                # symbols from the sync word's start to the payload's end

    @property
    def snr_db(self) -> float:
        return float(-10 * np.log10(max(self.noise_var, 1e-12)))


def estimate_from_known(received: np.ndarray, known: np.ndarray) -> tuple[complex, float, float]:
    """(complex gain at symbol 0, frequency in cycles/symbol, noise variance) from symbols
    whose values are known: z_n = y_n conj(s_n) = g e^{j 2 pi f n} + noise.

    The frequency is the maximum-likelihood estimate (the peak of the zero-padded
    periodogram of z, refined by a parabola through the peak and its neighbours; its variance
    reaches the Cramer-Rao bound 6 / ((2 pi)^2 SNR N^3) at moderate SNR), the gain the mean
    of z after removing the ramp.
    """
    z = received * np.conj(known)
    nfft = 1 << max(int(np.ceil(np.log2(len(z)))) + 2, 8)
    spec = np.abs(np.fft.fft(z, nfft)) ** 2
    k = int(np.argmax(spec))
    a, b, c = spec[k - 1], spec[k], spec[(k + 1) % nfft]
    delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    f = (k + delta) / nfft
    f = f - 1.0 if f >= 0.5 else f
    n = np.arange(len(z))
    g = complex(np.mean(z * np.exp(-2j * np.pi * f * n)))
    resid = received - g * known * np.exp(2j * np.pi * f * n)
    nv = float(np.mean(np.abs(resid) ** 2)) * len(z) / max(len(z) - 3, 1)
    return g, f, nv


def locate_sync_word(symbols: np.ndarray, near: int, refine: int) -> tuple[int, float]:
    """Where the sync word starts in ``symbols`` within ``near`` +- ``refine`` (a correlator
    tags side peaks too), and how well it fits there: the share of those symbols' power that
    the sync word explains, |<s, y>|^2 / (N ||y||^2), in [0, 1]: a / (a + noise) for a real
    sync word of amplitude^2 a (0.5 at 0 dB Es/N0), about 1 / N on data or noise. One
    vectorised correlation; a real one clears :data:`SYNC_QUALITY`.
    """
    nsw = len(SYNC_WORD)
    lo = max(near - refine, 0)
    seg = symbols[lo:near + refine + nsw]
    if len(seg) < nsw:
        return near, 0.0
    corr = np.abs(np.correlate(seg, SYNC_WORD.astype(np.complex64), "valid")) ** 2
    k = int(np.argmax(corr))
    energy = float(np.sum(np.abs(seg[k:k + nsw]) ** 2))
    return lo + k, float(corr[k]) / (nsw * energy) if energy > 0 else 0.0


ZOOM = 8            # fine bins per coarse bin in squared_tone (the fine grid: 8x zero-padding)


def squared_tone(r: np.ndarray, span: float) -> float:
    """Residual frequency (cycles/symbol) of BPSK symbols ``r`` already derotated by a coarse
    estimate: r^2 carries a tone at twice the residual whatever the data, found as the peak
    of its 8x zero-padded periodogram within +-``span`` (then a parabola through the peak and
    its neighbours). Over the 1332 header symbols this holds at -3 dB Es/N0, where the
    127-symbol sync word alone leaves about 4e-4 cycles/symbol of error (its Cramer-Rao
    bound), a fifth of a radian over one block of the header.

    The periodogram is zoomed, not computed whole: a 1x-padded FFT finds the coarse peak
    (its bins :data:`ZOOM` fine bins apart, the main lobe 2 x 16384 / 1332 = 25 fine bins
    wide, so the coarse peak lies on the main lobe), then the fine bins within one coarse
    bin of it are evaluated directly (:func:`_zoom_periodogram`): the same peak and parabola
    as the whole 16384-point periodogram (:func:`squared_tone_reference`, which the tests
    hold it to) at a third of the cost."""
    z = r * r
    nfft = 1 << (int(np.ceil(np.log2(len(z)))) + 3)
    reach = max(int(np.ceil(2 * span * nfft)), 1)
    coarse = nfft // ZOOM
    spec = np.abs(np.fft.fft(z, coarse)) ** 2
    near = -(-reach // ZOOM)
    bins = np.r_[0:near + 1, coarse - near:coarse]
    kc = int(bins[np.argmax(spec[bins])])
    kc = kc - coarse if kc > coarse // 2 else kc
    offsets = np.arange(-ZOOM - 1, ZOOM + 2)             # the fine bins kc * ZOOM + offsets
    fine = _zoom_periodogram(z, kc * ZOOM, offsets, nfft)
    allowed = np.abs(kc * ZOOM + offsets[1:-1]) <= reach  # within +-span, neighbours aside
    i = int(np.argmax(np.where(allowed, fine[1:-1], -1.0))) + 1
    a, b, c = fine[i - 1], fine[i], fine[i + 1]
    den = a - 2 * b + c
    delta = 0.5 * (a - c) / den if den != 0 else 0.0
    return float((kc * ZOOM + offsets[i] + delta) / nfft / 2)


_ZOOM_ROWS: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}


def _zoom_periodogram(z: np.ndarray, centre: int, offsets: np.ndarray, nfft: int
                      ) -> np.ndarray:
    """|sum_n z_n e^(-j 2 pi k n / nfft)|^2 at the bins k = ``centre`` + ``offsets`` of an
    ``nfft``-point FFT of ``z`` zero-padded: z shifted down by ``centre`` bins (one phasor
    per symbol, from a table of the nfft roots of unity), then a product with the cached rows
    e^(-j 2 pi o n / nfft) of the offsets."""
    n = np.arange(len(z))
    key = (len(z), nfft, len(offsets))
    if key not in _ZOOM_ROWS:
        _ZOOM_ROWS[key] = (np.exp(-2j * np.pi * np.outer(offsets, n) / nfft),
                           np.exp(-2j * np.pi * np.arange(nfft) / nfft))
    rows, roots = _ZOOM_ROWS[key]
    return np.abs(rows @ (z * roots[(centre * n) % nfft])) ** 2


def squared_tone_reference(r: np.ndarray, span: float) -> float:
    """:func:`squared_tone` from the whole 8x zero-padded periodogram (the reference its
    zoom is tested against)."""
    z = r * r
    nfft = 1 << (int(np.ceil(np.log2(len(z)))) + 3)
    spec = np.abs(np.fft.fft(z, nfft)) ** 2
    reach = max(int(np.ceil(2 * span * nfft)), 1)
    bins = np.r_[0:reach + 1, nfft - reach:nfft]
    k = int(bins[np.argmax(spec[bins])])
    a, b, c = spec[k - 1], spec[k], spec[(k + 1) % nfft]
    den = a - 2 * b + c
    delta = 0.5 * (a - c) / den if den != 0 else 0.0
    f2 = (k + delta) / nfft
    return float((f2 - 1.0 if f2 >= 0.5 else f2) / 2)


def _mth_power_variance(order: int, noise_var: float, symbols: int) -> float:
    """Variance (rad^2) of the M-th power phase estimate over ``symbols`` M-PSK symbols
    (Moeneclaey and de Jonghe, see :func:`payload_block`)."""
    rho = 1.0 / max(noise_var, 1e-6)
    terms = sum(math.comb(order, m) ** 2 * math.factorial(m) * rho ** -m
                for m in range(1, order + 1))
    return terms / (2 * order ** 2 * symbols)


def payload_block(order: int, noise_var: float, target_var: float = 0.0) -> int:
    """Symbols per block phase estimate of an M-PSK payload (M-th power, M <= 4) at the
    header's noise estimate: the estimate's variance (Moeneclaey and de Jonghe, IEEE Trans.
    Commun. 1994; Viterbi and Viterbi 1983)

        var(theta) = sum_{m=1..M} C(M, m)^2 m! rho^-m / (2 M^2 N),   rho = Es/N0,

    must keep a 2 pi / M slip between neighbouring blocks (a step over pi / M) six standard
    deviations away: var <= (pi / M)^2 / 72. At 0 dB that asks 760 QPSK symbols (256-symbol
    blocks slipped in one 7168-symbol segment in five), at 10 dB 9. The block is a power of
    two from :data:`BLOCK` to :data:`MAX_BLOCK`. (Denser PSK is tracked on the link's
    pilots: :func:`dense_pilot_window`.)"""
    need = _mth_power_variance(order, noise_var, 1) / (target_var or (np.pi / order) ** 2 / 72)
    return int(min(max(BLOCK, 1 << int(np.ceil(np.log2(max(need, 1))))), MAX_BLOCK))


def block_window(order: int, noise_var: float, block: int) -> int:
    """Block phase estimates per smoothed estimate of an M-PSK payload (M <= 4): the block
    variance of :func:`payload_block` over W blocks within (pi / (16 M))^2 (QPSK: 2.8
    degrees; 3 blocks of 1024 at 0 dB, 1 from about 6 dB)."""
    var = _mth_power_variance(order, noise_var, block)
    return max(1, math.ceil(var / (np.pi / (16 * order)) ** 2))


def dense_pilot_window(order: int, noise_var: float) -> int:
    """Pilots per phase estimate of a dense PSK payload (the link's pilots,
    :func:`phydnn.link.payload.link_pilot_spacing`): the mean of W unit pilots has a phase
    variance of sigma^2 / (2 W); W keeps its standard deviation a quarter of the points'
    half-spacing pi / M, W >= 8 sigma^2 M^2 / pi^2 (207 pilots for 16-PSK at 0 dB, 21 at
    10 dB), and at least :data:`PILOT_WINDOW`. There is no slip to guard against (the pilots
    are known), only phase noise added to the decisions."""
    return max(PILOT_WINDOW, math.ceil(8 * noise_var * order ** 2 / np.pi ** 2))


def _pilot_phases(z: np.ndarray, at: np.ndarray, window: int) -> np.ndarray:
    """Phase at each pilot from the pilots' products ``z`` (at positions ``at``): a
    least-squares line through the unwrapped angles of means of :data:`PILOT_WINDOW` pilots
    (the frequency the header left), then the angle of a moving mean of ``window`` pilots
    turned back by that line. A moving mean of a ramp is biased where the window is cut at
    the segment's ends; of what the line leaves, not."""
    short = _unwrap_from_zero(np.angle(np.convolve(
        z, np.ones(min(PILOT_WINDOW, len(z)), np.float32), "same")))
    line = _ls_line(at.astype(np.float64), short) if len(z) >= 3 else short
    turned = z * _rotator(line)
    mean = np.convolve(turned, np.ones(min(int(window), len(z)), np.float32), "same")
    return line + np.angle(mean)


def _smooth_about_line(centres: np.ndarray, theta: np.ndarray, window: int) -> np.ndarray:
    """Block phases -> a least-squares line through them plus a moving mean of ``window``
    blocks of what the line leaves (the mean normalised where the window is cut at the
    ends, so a ramp is not bent there)."""
    line = _ls_line(centres, theta)
    kernel = np.ones(min(int(window), len(theta)))
    res = np.convolve(theta - line, kernel, "same") / np.convolve(np.ones(len(theta)),
                                                                 kernel, "same")
    return line + res


def _power(x: np.ndarray, order: int) -> np.ndarray:
    """x ** order by repeated squaring when order is a power of two (numpy's complex power
    is a slow generic pow)."""
    if order & (order - 1):
        return x ** order
    while order > 1:
        x = x * x
        order //= 2
    return x


def _block_phases(blocks: np.ndarray, order: int, p0_order: complex) -> np.ndarray:
    """Residual phase of each block (rows of ``blocks``) of derotated BPSK or QPSK symbols,
    unwrapped from 0: the M-th power estimate of Viterbi & Viterbi (1983), sum(r^M) has the
    angle M * phase whatever the data (``p0_order``: the first point to the M-th, the angle
    it stands for). (Denser PSK is tracked on the link's pilots: the M-th power raises the
    noise M-fold in angle, and a decision-directed estimate, used here before the pilots,
    has no gain at low Es/N0 where the decisions are nearly random: at 0 dB 16-PSK lost 12
    points of accuracy to it.)"""
    sums = _power(blocks, order).sum(axis=1)
    return _unwrap_from_zero(np.angle(sums * np.conj(p0_order))) / order


def _rotator(angle: np.ndarray) -> np.ndarray:
    """exp(-j angle) as complex64 from float32 cosine and sine, about 7x faster than numpy's
    complex exp in double; the angle is first reduced modulo 2 pi, so float32 holds it to
    about 3e-7 rad."""
    a = np.mod(angle, 2 * np.pi).astype(np.float32)
    out = np.empty(len(a), dtype=np.complex64)
    out.real = np.cos(a)
    out.imag = -np.sin(a)
    return out


RAMP_ROW = 64       # symbols per row of the outer product in _ramp
TAYLOR_STEP = 16    # symbols per exact phasor in _smooth_rotator
TAYLOR_REACH = 0.05  # largest phase step (rad) the series in _smooth_rotator may bridge


def _ramp(phase: float, freq: float, n: int) -> np.ndarray:
    """exp(-j (phase + 2 pi freq k)), k = 0..n-1, as the outer product of a row and a column
    of exact phasors, exp(-j(phase + 2 pi freq R a)) exp(-j 2 pi freq b) for k = R a + b: one
    complex product per symbol instead of a cosine and a sine (4x faster on a payload; the
    same values to float32 rounding, which :func:`_rotator` also has)."""
    rows = -(-n // RAMP_ROW)
    coarse = _rotator(phase + 2 * np.pi * freq * RAMP_ROW * np.arange(rows))
    fine = _rotator(2 * np.pi * freq * np.arange(RAMP_ROW))
    return (coarse[:, None] * fine[None, :]).ravel()[:n]


def _smooth_rotator(angle: np.ndarray) -> np.ndarray:
    """exp(-j angle) for a slowly varying angle (a tracked residual phase): exact phasors
    every :data:`TAYLOR_STEP` symbols, times the Taylor series of exp(-j delta) to third
    order for the step delta from there (its error delta^4 / 24: under 3e-7 while delta stays
    within :data:`TAYLOR_REACH`, float32's own rounding); an angle that moves faster gets
    :func:`_rotator`."""
    n = len(angle)
    anchors = angle[::TAYLOR_STEP]
    delta = angle - np.repeat(anchors, TAYLOR_STEP)[:n]
    if not n or float(np.max(np.abs(delta))) > TAYLOR_REACH:
        return _rotator(angle)
    d = delta.astype(np.float32)
    d2 = d * d
    series = np.empty(n, dtype=np.complex64)
    series.real = 1 - d2 / 2
    series.imag = d * (d2 / 6 - 1)
    return np.repeat(_rotator(anchors), TAYLOR_STEP)[:n] * series


def _unwrap_from_zero(angles: np.ndarray) -> np.ndarray:
    """Unwrap a sequence of angles, the first one taken nearest to 0."""
    steps = angles.copy()
    steps[1:] -= angles[:-1]
    steps -= 2 * np.pi * np.round(steps / (2 * np.pi))
    return np.cumsum(steps)


def _unmix(r: np.ndarray, eq: Equaliser | None, chips: np.ndarray | None) -> np.ndarray:
    """Derotated symbols -> equalised, then descrambled by the conjugate ``chips`` (None: not
    scrambled): the channel mixed the symbols as sent (scrambled), so the equaliser comes
    first; the chips and the derotation, both a turn per symbol, commute."""
    if eq is not None:
        r = eq.apply(r)
    if chips is None:
        return r
    if len(chips) < len(r):
        raise ValueError(f"{len(r)} payload symbols: fewer chips than symbols ({len(chips)})")
    return (r * chips[:len(r)]).astype(np.complex64, copy=False)


def _ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x (sums, not np.mean: these arrays are short and
    numpy's per-call overhead is most of the cost)."""
    dx = x - x.sum() / len(x)
    return float(dx @ (y - y.sum() / len(y)) / (dx @ dx))


def _ls_line(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The least-squares line through (x, y), at x."""
    return y.sum() / len(y) + _ls_slope(x, y) * (x - x.sum() / len(x))


_NO_TAPS = np.zeros(0, np.complex64)


def track(y: np.ndarray, order: int, p0_order: complex, phase: float, freq: float, amp: float,
          step: int, smooth: int, eq_taps: np.ndarray, eq_delay: int,
          conj_chips: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """Derotate ``y`` by the carried phase and frequency and scale it by 1 / ``amp``;
    equalise it (``eq_taps``, ``eq_delay``: an :class:`~phydnn.link.equaliser.Equaliser`'s;
    none when empty) and descramble it (``conj_chips``; None: not scrambled); then remove
    the residual phase block by block of ``step`` symbols (:func:`_block_phases`). The
    block estimates are unwrapped from 0 (the carried phase is right at the start),
    smoothed about their line over ``smooth`` blocks when > 1, drawn as a line between block
    centres, and a least-squares slope through them refines the frequency carried to the
    next part. Vectorised: no loop over blocks.

    Returns the derotated symbols and the phase and frequency of the next symbol. The numpy
    reference of gr-phydnn's C++ ``sync_kernels.track`` (same arguments, same results to
    float rounding: tests/qa_sync_kernels.py)."""
    total = len(y)
    n = np.arange(total)
    r = y * _ramp(phase, freq, total)
    r *= np.float32(1.0 / amp)
    eq = Equaliser(np.asarray(eq_taps, np.complex64), int(eq_delay), _NO_TAPS) \
        if len(eq_taps) else None
    r = _unmix(r, eq, conj_chips)
    nb = -(-total // step)
    padded = np.zeros(nb * step, dtype=np.complex64)
    padded[:total] = r
    theta = _block_phases(padded.reshape(nb, step), order, p0_order)
    centres = np.arange(nb) * step + (step - 1) / 2.0
    centres[-1] = ((nb - 1) * step + total - 1) / 2.0     # the last block may be short
    if smooth > 1 and nb >= 3:
        theta = _smooth_about_line(centres, theta, smooth)
    out = r * _smooth_rotator(np.interp(n, centres, theta))
    slope = _ls_slope(centres, theta) if nb >= 3 else 0.0
    theta_next = theta[-1] + slope * (total - centres[-1])
    return out, phase + 2 * np.pi * freq * total + theta_next, freq + slope / (2 * np.pi)


def header_front(symbols: np.ndarray, sync_word: np.ndarray, step: int, span: float
                 ) -> tuple[np.ndarray, float, float, float, float, float, np.ndarray]:
    """The sync word and the header before decoding (``symbols``: the sync word, then the
    header): the gain and the frequency from the sync word (:func:`estimate_from_known`),
    the frequency refined on the header's squared BPSK (:func:`squared_tone`, within
    +-``span``), the gain again at that frequency, then the header tracked
    (:func:`track`, blocks of ``step``). Returns the tracked header symbols, the phase and
    frequency at the header's start and after its end, the amplitude (0 without signal:
    nothing else is then computed) and the sync word derotated and scaled (what the first
    equaliser is designed on). The numpy reference of ``sync_kernels.header_front``."""
    nsw, nh = len(sync_word), len(symbols) - len(sync_word)
    g, freq, _ = estimate_from_known(symbols[:nsw], sync_word)
    amp = abs(g)
    if not amp > 0:
        return _NO_TAPS, 0.0, 0.0, 0.0, 0.0, 0.0, _NO_TAPS
    phase = float(np.angle(g)) + 2 * np.pi * freq * nsw
    coarse = symbols[nsw:] * _ramp(phase, freq, nh)
    freq += squared_tone(coarse, span)
    k = np.arange(nsw)
    g = complex(np.mean(symbols[:nsw] * np.conj(sync_word) * _rotator(2 * np.pi * freq * k)))
    phase = float(np.angle(g)) + 2 * np.pi * freq * nsw
    hdr, phase_out, freq_out = track(symbols[nsw:], 2, 1.0, phase, freq, amp, step, 1,
                                     _NO_TAPS, 0, None)
    sw = (symbols[:nsw] * _rotator(float(np.angle(g)) + 2 * np.pi * freq * k) / amp)
    return hdr, phase, freq, phase_out, freq_out, amp, sw.astype(np.complex64)


NUMPY_KERNELS = SimpleNamespace(estimate_from_known=estimate_from_known,
                                squared_tone=squared_tone, track=track,
                                estimate_channel=estimate_channel, header_front=header_front,
                                header_bits=header_bits)
"""The segment sync's numeric kernels in numpy: :class:`SegmentSync`'s default, and the
reference that gr-phydnn's C++ ``sync_kernels`` (the same six functions, which the
Deframer hands its SegmentSync) are tested against."""


class SegmentSync:
    """Per-segment receiver for any payload kind. ``expect``: the payload this receiver
    takes (a :class:`~phydnn.codecs.base.PayloadSpec`, or the M points of a psk payload);
    None takes whatever the header announces. ``kernels``: what does the arithmetic
    (:data:`NUMPY_KERNELS`, or gr-phydnn's C++ ``sync_kernels``, which the Deframer passes:
    the same functions without numpy's per-call cost and without the GIL)."""

    def __init__(self, expect: PayloadSpec | np.ndarray | None = None, block: int = 0,
                 equalise: bool = True, kernels: SimpleNamespace = NUMPY_KERNELS) -> None:
        if expect is not None and not isinstance(expect, PayloadSpec):
            expect = PayloadSpec("psk", int(np.log2(len(expect)))).check()
        self.expect = expect
        self.block = int(block)     # symbols per phase estimate; 0: max(BLOCK, 8 M)
        self.equalise = bool(equalise)   # a per-segment MMSE equaliser where the channel
                                         # has interference (phydnn.link.equaliser)
        self.kernels = kernels      # the numeric kernels: numpy's, or gr-phydnn's C++ ones
        self._points: dict[int, np.ndarray] = {}
        conj_chips()        # build the scrambler's chips now (20 ms), not inside the first
                            # segment's deadline

    def points(self, bits_per_symbol: int) -> np.ndarray:
        """The 2^b PSK points of a psk or bits payload (cached)."""
        if bits_per_symbol not in self._points:
            self._points[bits_per_symbol] = psk_points(1 << bits_per_symbol).astype(np.complex64)
        return self._points[bits_per_symbol]

    def _step(self, block: int, order: int, total: int) -> int:
        """Symbols per block phase estimate: this receiver's ``block``, else ``block`` and
        at least 8 M (longer blocks for the denser orders), at most ``total``."""
        return min(self.block or max(block, 8 * order), max(total, 1))

    def _track(self, y: np.ndarray, points: np.ndarray, phase: float, freq: float,
               amp: float, block: int, eq: Equaliser | None = None,
               scrambled: bool = False, smooth: int = 1) -> tuple[np.ndarray, float, float]:
        """:func:`track` (by this receiver's kernels) over blocks of ``block`` symbols (or
        this receiver's ``block``), at least 8 M, at most the whole of ``y``."""
        order = len(points)
        step = self._step(block, order, len(y))
        taps, delay = (eq.taps, eq.delay) if eq is not None else (_NO_TAPS, 0)
        return self.kernels.track(y, order, complex(points[0]) ** order, phase, freq, amp,
                                  step, smooth, taps, delay,
                                  conj_chips() if scrambled else None)

    def sync_header(self, symbols: np.ndarray) -> HeaderState:
        """Estimate from the sync word, track through the header and decode it; ``symbols``
        start at the sync word and hold at least :data:`HEADER_SPAN` symbols.

        Raises :class:`~phydnn.link.header.HeaderError` (``truncated``, ``crc``, ...).
        """
        if len(symbols) < HEADER_SPAN:
            raise HeaderError("truncated", f"{len(symbols)} of {HEADER_SPAN} symbols")
        step = self._step(HEADER_BLOCK, len(BPSK), HEADER_SYMBOLS)
        hdr, phase, freq, phase_out, freq_out, amp, sw = self.kernels.header_front(
            symbols[:HEADER_SPAN], SYNC_WORD, step, FREQ_SPAN)
        if not amp > 0:
            raise HeaderError("crc", "no signal")
        raw = symbols[len(SYNC_WORD):HEADER_SPAN]
        # through interference the header is decoded behind a first equaliser from the sync
        # word (its 127 symbols against the header's 1332: noisier, enough to decode by); the
        # payload's comes from the decoded header below
        eq0 = design_equaliser(sw, SYNC_WORD, estimate=self.kernels.estimate_channel) \
            if self.equalise else None
        decode = self.kernels.header_bits
        if eq0 is None:
            header, sent = decode_header(hdr, decode)
        else:
            header, sent = decode_header(self._track(raw, BPSK, phase, freq, amp, HEADER_BLOCK,
                                                     eq0)[0], decode)
        phase = phase_out
        self._check_expected(header)
        # the gain again from the header's known symbols (ten times the sync word's, and
        # after the timing loop has settled on the burst): the payload is scaled by it,
        # which an analog payload needs exact
        gain = float(np.real(np.vdot(sent, hdr))) / HEADER_SYMBOLS
        if gain > 0:
            amp, hdr = amp * gain, hdr / np.float32(gain)
        # noise per unit-power symbol from the header's known symbols (a phase fitted per
        # block of HEADER_BLOCK takes one of its 2 x HEADER_BLOCK real dimensions). The sync
        # word's own residual is not used: at the start of a burst it ran 1 dB high at 20 dB
        nv = float(np.mean(np.abs(hdr - sent) ** 2)) * 2 * HEADER_BLOCK / (2 * HEADER_BLOCK - 1)
        eq = design_equaliser(hdr, sent, estimate=self.kernels.estimate_channel) \
            if self.equalise else None
        if eq is not None:   # the noise the soft receiver sees is what the equaliser leaves
            inner = slice(EQ_TAPS, HEADER_SYMBOLS - EQ_TAPS)
            nv = float(np.mean(np.abs(eq.apply(hdr)[inner] - sent[inner]) ** 2))
        return HeaderState(header, phase, freq_out, amp, nv, eq)

    def _check_expected(self, header: PhyHeader) -> None:
        want = self.expect
        if want is None:
            return
        if header.kind != want.kind:
            raise HeaderError("kind", f"a {header.kind} payload, this receiver takes "
                              f"{want.kind}")
        if header.bits_per_symbol != want.bits_per_symbol:
            raise HeaderError("bits_per_symbol", f"{header.bits_per_symbol} bits per symbol, "
                              f"this receiver demodulates {want.bits_per_symbol}")

    def _track_pilots(self, y: np.ndarray, spacing: int, phase: float, freq: float,
                      amp: float, eq: Equaliser | None = None, window: int = PILOT_WINDOW
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Derotate a payload with pilots (analog, dense PSK) by the carried phase and
        frequency, then by the phase of its pilots (:func:`_pilot_phases` over ``window``
        pilots, drawn as a line between pilots). Returns the derotated data symbols and
        pilots."""
        n_data = data_length(len(y), spacing)
        if n_data is None:
            raise HeaderError("length", f"{len(y)} payload symbols do not fit pilots every "
                              f"{spacing}")
        n = np.arange(len(y))
        r = y * _ramp(phase, freq, len(y))
        r *= np.float32(1.0 / amp)
        r = _unmix(r, eq, conj_chips())
        at = pilot_index(n_data, spacing)
        theta = _pilot_phases(r[at] * np.conj(PILOT), at, window)
        out = r * _smooth_rotator(np.interp(n, at, theta))
        is_data = np.ones(len(out), bool)
        is_data[at] = False
        return out[is_data], out[at]

    def sync_payload(self, state: HeaderState, symbols: np.ndarray) -> SyncResult:
        """Track through the payload the header announced; ``symbols`` as for
        :meth:`sync_header`, now holding the whole segment."""
        h = state.header
        end = HEADER_SPAN + h.n_symbols
        if len(symbols) < end:
            raise HeaderError("truncated", f"payload of {h.n_symbols} symbols cut")
        y = symbols[HEADER_SPAN:end]
        data, whole = (self._pilot_payload if h.pilot_spacing else self._psk_payload)(state, y)
        if not whole:
            raise HeaderError("truncated", f"no signal at the end of the {h.n_symbols} "
                              f"payload symbols")
        return SyncResult(h, data, state.noise_var, end)

    def _pilot_payload(self, state: HeaderState, y: np.ndarray) -> tuple[np.ndarray, bool]:
        """Data symbols of a payload with pilots, and whether its last pilots are still
        pilots (:data:`TAIL_PILOT_FIT`)."""
        h = state.header
        window = PILOT_WINDOW if h.kind == "analog" else \
            dense_pilot_window(1 << h.bits_per_symbol, state.noise_var)
        data, pilots = self._track_pilots(y, h.pilot_spacing, state.phase, state.freq,
                                          state.amp, state.equaliser, window)
        fit = float(np.real(np.mean(pilots[-TAIL_PILOTS:] * np.conj(PILOT))))
        return data, fit >= TAIL_PILOT_FIT

    def _psk_payload(self, state: HeaderState, y: np.ndarray) -> tuple[np.ndarray, bool]:
        """Data symbols of a BPSK or QPSK payload, and whether its last :data:`TAIL_CHECK`
        symbols hold signal (:data:`SILENCE`)."""
        points = self.points(state.header.bits_per_symbol)
        block = payload_block(len(points), state.noise_var)
        data, _, _ = self._track(y, points, state.phase, state.freq, state.amp, block,
                                 state.equaliser, scrambled=True,
                                 smooth=block_window(len(points), state.noise_var, block))
        power = float(np.mean(np.abs(data[-TAIL_CHECK:]) ** 2))
        return data, power >= state.noise_var + SILENCE

    def process(self, symbols: np.ndarray) -> SyncResult:
        """Header and payload of one segment that ``symbols`` (from its sync word) hold."""
        return self.sync_payload(self.sync_header(symbols), symbols)

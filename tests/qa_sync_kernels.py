"""qa for gr-phydnn's C++ sync kernels (lib/sync_kernels.cc) against their numpy reference in
phydnn.link.sync (NUMPY_KERNELS): the same estimates and symbols to float rounding on the
segments the link carries (BPSK headers, scrambled QPSK payloads, equalised or not), the
same refusals, and a SegmentSync on either kernels decoding the same segments alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


@pytest.fixture(scope="module")
def cpp():
    from gnuradio.phydnn.phydnn_python import sync_kernels

    return sync_kernels


def _noisy(x: np.ndarray, snr_db: float, rng, freq: float = 0.0) -> np.ndarray:
    n = np.arange(len(x))
    noise = (rng.standard_normal(len(x)) + 1j * rng.standard_normal(len(x))) / math.sqrt(2)
    y = x * np.exp(1j * (rng.uniform(0, 2 * np.pi) + 2 * np.pi * freq * n))
    return (y + noise * 10 ** (-snr_db / 20)).astype(np.complex64)


@pytest.mark.parametrize("snr_db", [-3.0, 6.0, 20.0])
def test_estimates_from_known_symbols_agree(cpp, snr_db):
    from phydnn.link import SYNC_WORD
    from phydnn.link.sync import NUMPY_KERNELS

    rng = np.random.default_rng(int(snr_db) + 10)
    for _ in range(20):
        y = _noisy(SYNC_WORD, snr_db, rng, rng.uniform(-3e-3, 3e-3))
        g, f, nv = cpp.estimate_from_known(y, SYNC_WORD)
        g0, f0, nv0 = NUMPY_KERNELS.estimate_from_known(y, SYNC_WORD)
        assert abs(g - g0) < 1e-5 and f == pytest.approx(f0, abs=1e-9)
        assert nv == pytest.approx(nv0, rel=1e-5)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 12.0])
def test_squared_tone_agrees(cpp, snr_db):
    from phydnn.link.sync import FREQ_SPAN, NUMPY_KERNELS

    rng = np.random.default_rng(int(snr_db) + 20)
    for _ in range(30):
        bits = rng.choice([-1.0, 1.0], 1332)
        r = _noisy(bits, snr_db, rng, rng.uniform(-2e-3, 2e-3)) * np.exp(-1j * 0.3)
        r = r.astype(np.complex64)
        assert cpp.squared_tone(r, FREQ_SPAN) == pytest.approx(
            NUMPY_KERNELS.squared_tone(r, FREQ_SPAN), abs=1e-9)


@pytest.mark.parametrize("order,step,smooth,equalised,scrambled", [
    (2, 64, 1, False, False),       # the header: BPSK, 64-symbol blocks
    (4, 256, 1, False, True),       # a QPSK payload at high SNR
    (4, 1024, 3, False, True),      # ... at 0 dB: longer blocks, smoothed over three
    (4, 300, 2, True, True),        # an equalised payload, a short last block
    (2, 5000, 1, False, False),     # one block
])
def test_track_agrees(cpp, order, step, smooth, equalised, scrambled):
    from phydnn.link.scrambler import conj_chips
    from phydnn.link.sync import NUMPY_KERNELS
    from phydnn.phy.constellation import psk_points

    rng = np.random.default_rng(order * step)
    points = psk_points(order)
    sent = points[rng.integers(0, order, 4000)]
    y = _noisy(sent, 6.0, rng) * np.float32(0.8)
    taps = np.array([0.05j, 1.0, -0.1, 0.02], np.complex64) if equalised else \
        np.zeros(0, np.complex64)
    chips = conj_chips() if scrambled else None
    p0 = complex(points[0]) ** order
    args = (order, p0, 0.7, 1.3e-4, 0.8, step, smooth, taps, -1 if equalised else 0, chips)
    out, phase, freq = cpp.track(y, *args)
    ref, phase0, freq0 = NUMPY_KERNELS.track(y, *args)
    assert out.dtype == np.complex64 and out.shape == ref.shape
    assert np.max(np.abs(out - ref)) < 2e-4
    assert phase == pytest.approx(phase0, abs=1e-4) and freq == pytest.approx(freq0, abs=1e-8)


@pytest.mark.parametrize("channel", [[1.0], [0.1, 1.0, 0.3j, 0.0, -0.05]])
def test_channel_estimates_agree(cpp, channel):
    from phydnn.link.equaliser import POST, PRE, estimate_channel

    rng = np.random.default_rng(len(channel))
    known = rng.choice([-1.0, 1.0], 1332).astype(np.complex64)
    y = np.convolve(known, np.asarray(channel, np.complex64))[:1332]
    y = _noisy(y, 15.0, rng).astype(np.complex64)
    g, resid = cpp.estimate_channel(y, known, PRE, POST)
    g0, resid0 = estimate_channel(y, known, PRE, POST)
    assert np.max(np.abs(g - g0)) < 1e-6 and resid == pytest.approx(resid0, rel=1e-6)


def test_kernels_refuse_what_they_cannot_do(cpp):
    x = np.ones(100, np.complex64)
    with pytest.raises(ValueError, match="power of two"):
        cpp.track(x, 3, 1.0, 0.0, 0.0, 1.0, 64, 1, np.zeros(0, np.complex64), 0, None)
    with pytest.raises(ValueError, match="chips"):
        cpp.track(x, 2, 1.0, 0.0, 0.0, 1.0, 64, 1, np.zeros(0, np.complex64), 0,
                  np.ones(10, np.complex64))
    with pytest.raises(ValueError, match="length"):
        cpp.estimate_from_known(x, x[:50])
    with pytest.raises(ValueError, match="taps"):
        cpp.estimate_channel(x[:10], x[:10], 4, 12)


@pytest.mark.parametrize("order,snr_db", [(4, 0.0), (4, 12.0), (2, 4.0), (16, 12.0)])
def test_segment_sync_decodes_alike_on_either_kernels(cpp, order, snr_db):
    """Whole segments (sync word, header, scrambled payload; random phase and 2e-3
    cycles/symbol): the same headers, noise estimates and symbol decisions."""
    from phydnn.link import RAMP, SegmentSync, frame_symbols, segment_batch
    from phydnn.phy.constellation import psk_points

    rng = np.random.default_rng(order + int(snr_db))
    pts = psk_points(order).astype(np.complex64)
    fast, ref = SegmentSync(pts, kernels=cpp), SegmentSync(pts)
    for h, part in segment_batch(rng.integers(0, order, 12000), 0, 16, "0123abcd",
                                 int(math.log2(order)), 3000):
        y = _noisy(frame_symbols(h, part, pts), snr_db, rng, 2e-3)[len(RAMP):]
        a, b = fast.process(y), ref.process(y)
        assert a.header == b.header and a.consumed == b.consumed
        assert a.noise_var == pytest.approx(b.noise_var, rel=1e-4)
        decide = lambda s: np.argmin(np.abs(s[:, None] - pts[None]), 1)  # noqa: E731
        assert np.mean(decide(a.payload) != decide(b.payload)) < 1e-3


@pytest.mark.parametrize("snr_db", [0.0, 12.0])
def test_header_front_agrees(cpp, snr_db):
    from phydnn.link import PhyHeader, encode_header
    from phydnn.link.preamble import SYNC_WORD
    from phydnn.link.sync import FREQ_SPAN, NUMPY_KERNELS

    rng = np.random.default_rng(int(snr_db) + 30)
    frame = np.concatenate([SYNC_WORD, encode_header(PhyHeader("0123abcd", 5, 1, 4, 3136,
                                                               64, 2))])
    for _ in range(10):
        y = _noisy(frame, snr_db, rng, rng.uniform(-2e-3, 2e-3)) * np.float32(0.6)
        ours, ref = cpp.header_front(y, SYNC_WORD, 64, FREQ_SPAN), \
            NUMPY_KERNELS.header_front(y, SYNC_WORD, 64, FREQ_SPAN)
        assert np.max(np.abs(ours[0] - ref[0])) < 2e-4
        assert np.max(np.abs(ours[6] - ref[6])) < 2e-4
        assert np.allclose(ours[1:6], ref[1:6], rtol=1e-6, atol=1e-5)
    silent = np.zeros(len(frame), np.complex64)
    assert cpp.header_front(silent, SYNC_WORD, 64, FREQ_SPAN)[5] == 0.0
    assert NUMPY_KERNELS.header_front(silent, SYNC_WORD, 64, FREQ_SPAN)[5] == 0.0


@pytest.mark.parametrize("snr_db", [-3.0, 0.0, 6.0])
def test_header_bits_are_gr_fecs_decoded_from_python(cpp, snr_db):
    """The header's Viterbi decode in C++ gives the bits phydnn.fec's gr-fec decoder gives
    on the same symbols, at SNRs where some headers fail."""
    from phydnn.link import HEADER_SYMBOLS, PhyHeader, encode_header
    from phydnn.link.header import CODED_BITS, HEADER_BITS, REPETITIONS, header_bits

    rng = np.random.default_rng(int(snr_db) + 40)
    sent = encode_header(PhyHeader("0123abcd", 7, 2, 4, 3136, 64, 2))
    for _ in range(30):
        noise = (rng.standard_normal(HEADER_SYMBOLS) +
                 1j * rng.standard_normal(HEADER_SYMBOLS)) * 10 ** (-snr_db / 20) / math.sqrt(2)
        y = (sent + noise).astype(np.complex64)
        ours = cpp.header_bits(y, REPETITIONS, CODED_BITS, HEADER_BITS)
        assert ours.dtype == np.uint8
        assert np.array_equal(ours, header_bits(y, REPETITIONS, CODED_BITS, HEADER_BITS))
    with pytest.raises(ValueError, match="2 \\(bits"):
        cpp.header_bits(np.zeros(30, np.complex64), 3, 10, 4)

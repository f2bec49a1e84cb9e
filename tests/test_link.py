"""Link core (no GNU Radio): PHY header, segmentation and reassembly, per-segment sync."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pytest

from phydnn.link import (
    HEADER_SYMBOLS,
    PREAMBLE,
    RAMP,
    SYNC_WORD,
    HeaderError,
    PhyHeader,
    Reassembler,
    SegmentSync,
    decode_header,
    encode_header,
    frame_symbols,
    segment_batch,
)
from phydnn.phy.constellation import psk_points, psk_ser_theory

HDR = PhyHeader("0123abcd", 513, 3, 25, 2008, 64, 2)


def _awgn(x: np.ndarray, snr_db: float, rng, amp: float = 1.0) -> np.ndarray:
    nv = amp ** 2 * 10 ** (-snr_db / 10)
    return x + math.sqrt(nv / 2) * (rng.standard_normal(len(x)) + 1j * rng.standard_normal(len(x)))


def test_sync_word_is_a_maximal_length_sequence():
    c = np.abs(np.correlate(SYNC_WORD, SYNC_WORD, "full"))
    assert len(SYNC_WORD) == 127 and c.max() == 127
    assert np.sort(c)[-2] <= 9          # aperiodic sidelobes of this m-sequence of length 127
    assert abs(SYNC_WORD.sum()) == 1    # balance: 64 ones, 63 zeros
    # a period of a degree-7 LFSR: every nonzero 7-bit state once
    bits = (SYNC_WORD.real < 0).astype(int)
    states = {tuple(np.roll(bits, -i)[:7]) for i in range(127)}
    assert len(states) == 127


def test_header_round_trip_and_every_bit_flip_is_caught():
    data = HDR.pack()
    assert PhyHeader.unpack(data) == HDR
    for bit in range(len(data) * 8):
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(HeaderError) as err:
            PhyHeader.unpack(bytes(bad))
        assert err.value.reason == "crc"


@pytest.mark.parametrize("field,value,reason", [
    ("bits_per_symbol", 0, "bits_per_symbol"), ("seg_index", 25, "segment"),
    ("n_symbols", 0, "length"), ("n_images", 0, "images"), ("batch_id", 70000, "batch_id")])
def test_header_fields_out_of_range_are_refused(field, value, reason):
    with pytest.raises(HeaderError) as err:
        PhyHeader(**{**HDR.__dict__, field: value}).pack()
    assert err.value.reason == reason


def test_header_survives_0_db_and_most_of_minus_3_db():
    """gr-fec's K = 7 rate-1/2 code, three copies: at 0 dB Es/N0 all of 300 headers decode
    (QPSK SER there is 29 %), at -3 dB at least 95 % (Eb/N0 there is 4.8 dB: the soft Viterbi
    decoder's word error rate for 222 bits is about 1 %)."""
    rng = np.random.default_rng(0)
    sent = encode_header(HDR)
    assert len(sent) == HEADER_SYMBOLS == 3 * 2 * (27 * 8 + 6)
    assert all(decode_header(_awgn(sent, 0.0, rng))[0] == HDR for _ in range(300))
    ok = 0
    for _ in range(300):
        with contextlib.suppress(HeaderError):
            ok += decode_header(_awgn(sent, -3.0, rng))[0] == HDR
    assert ok >= 285


def test_header_code_corrects_errors_that_repetition_alone_cannot():
    """The same coded bit wrong in every copy (what three-fold repetition cannot fix): the
    Viterbi decoder corrects 3 such bits spread over the header."""
    sent = encode_header(HDR).copy()
    coded = len(sent) // 3
    for bit in (40, 200, 380):
        sent[bit::coded] *= -1
    assert decode_header(sent)[0] == HDR


def test_segments_have_equal_length_and_reassemble_in_any_order():
    rng = np.random.default_rng(1)
    points = rng.integers(0, 4, (10, 784)).astype(np.uint8)
    segs = segment_batch(points, 7, 10, "0123abcdef", 2, 2048)
    assert [len(p) for _, p in segs] == [1960, 1960, 1960, 1960]
    reasm = Reassembler(784)
    out = []
    for header, part in [segs[i] for i in (2, 0, 3, 1)]:
        out += reasm.add(header, psk_points(4).astype(np.complex64)[part], 0.01)
    assert len(out) == 1 and not out[0].partial and out[0].n_images == 10
    back = np.argmin(np.abs(out[0].symbols[:, None] - psk_points(4)[None]), 1)
    assert np.array_equal(back, points.reshape(-1))
    assert out[0].snr_db == pytest.approx(20.0)


def test_missing_segments_become_erasures_and_flag_only_their_images():
    points = np.zeros((10, 784), dtype=np.uint8)
    segs = segment_batch(points, 1, 10, "0123abcd", 2, 2048)
    reasm = Reassembler(784, window=1)
    for header, part in segs[:2] + segs[3:]:
        assert reasm.add(header, np.ones(len(part), np.complex64), 0.1) == []
    nxt, part = segment_batch(points[:3], 2, 3, "0123abcd", 2, 2048)[0]   # 1 of 2 segments
    (batch,) = reasm.add(nxt, np.ones(len(part), np.complex64), 0.1)  # pushes batch 1 out
    assert batch.batch_id == 1 and batch.partial and batch.segments_missing == [2]
    erased = batch.erased()
    assert erased.tolist() == [i in (5, 6, 7) for i in range(10)]  # positions 3920..5879
    (last,) = reasm.flush()
    assert last.batch_id == 2 and last.segments_missing == [1]


def test_reassembler_refuses_segments_that_do_not_fit_the_model():
    reasm = Reassembler(784, max_images=1000)
    bad = PhyHeader("0123abcd", 1, 0, 3, 100, 10, 2)   # 3 segments of 100 != 7840 symbols
    with pytest.raises(HeaderError) as err:
        reasm.add(bad, np.ones(100, np.complex64), 0.1)
    assert err.value.reason == "geometry"
    huge = PhyHeader("0123abcd", 1, 0, 65535, 785, 65535, 2)  # would size 51 M symbols
    with pytest.raises(HeaderError) as err:
        reasm.add(huge, np.ones(785, np.complex64), 0.1)
    assert err.value.reason == "images"
    assert reasm.flush() == []


@pytest.mark.parametrize("order,snr", [(4, 6.0), (4, 12.0), (8, 10.0), (8, 14.0), (16, 12.0),
                                       (16, 18.0)])
def test_sync_recovers_phase_and_frequency_at_theoretical_ser(order, snr):
    """Random phase, a frequency offset of 2e-3 cycles/symbol and a gain of 0.7: the payload
    SER after sync is within 25 % (+ 3 binomial sigma) of the coherent theory."""
    rng = np.random.default_rng(order)
    pts = psk_points(order).astype(np.complex64)
    sync = SegmentSync(pts)
    errors = total = 0
    for h, part in segment_batch(rng.integers(0, order, 20000), 0, 25, "0123abcd",
                                 int(math.log2(order)), 2000):
        fr = frame_symbols(h, part, pts)
        n = np.arange(len(fr))
        y = _awgn(0.7 * fr * np.exp(1j * (rng.uniform(0, 6.3) + 2 * np.pi * 2e-3 * n)), snr,
                  rng, 0.7)
        r = sync.process(y[len(RAMP):].astype(np.complex64))
        errors += int((np.argmin(np.abs(r.payload[:, None] - pts[None]), 1) != part).sum())
        total += len(part)
    theory = float(psk_ser_theory(order, snr))
    assert errors / total <= 1.25 * theory + 3 * math.sqrt(theory / total) + 1e-4


def _segment_sers_at_0_db(order: int, segments: int, seed: int):
    """(header, SER) of each 12 544-symbol segment of random M-PSK after the segment sync, at
    0 dB with a random phase and up to 2e-3 cycles/symbol of frequency offset."""
    rng = np.random.default_rng(seed)
    pts = psk_points(order).astype(np.complex64)
    sync = SegmentSync(pts)
    for h, part in segment_batch(rng.integers(0, order, 12544 * segments), 0, segments,
                                 "0123abcd", int(math.log2(order)), 12544):
        fr = frame_symbols(h, part, pts)
        n = np.arange(len(fr))
        y = _awgn(fr * np.exp(1j * (rng.uniform(0, 6.3) + 2 * np.pi * rng.uniform(-2e-3, 2e-3)
                                    * n)), 0.0, rng)
        r = sync.process(y[len(RAMP):].astype(np.complex64))
        assert len(r.payload) == len(part)
        yield h, float(np.mean(np.argmin(np.abs(r.payload[:, None] - pts[None]), 1) != part))


def test_dense_psk_is_tracked_on_the_links_pilots_at_0_db():
    """16-PSK at 0 dB in 12 544-symbol segments: the decisions carry almost no phase there,
    so the link's pilots (one per 32 data symbols) are what keeps every segment's SER within
    5 binomial sigma of theory (the points' half-spacing is 11 degrees: the header's
    frequency error alone turns such a segment past it)."""
    from phydnn.link.sync import dense_pilot_window

    assert dense_pilot_window(16, 1.0) >= 200 and dense_pilot_window(16, 0.01) == 15
    theory = float(psk_ser_theory(16, 0.0))
    for h, ser in _segment_sers_at_0_db(16, 12, seed=5):
        assert h.pilot_spacing == 32
        assert ser <= theory + 5 * math.sqrt(theory * (1 - theory) / 12544)


def test_payload_tracking_holds_qpsk_at_0_db_without_slips():
    """Long segments at 0 dB: the block phase estimates grow with the noise (payload_block)
    so no segment slips by a quarter turn: every segment's SER within 5 binomial sigma of
    theory (a slip makes it 50 % or more)."""
    from phydnn.link.sync import payload_block

    assert payload_block(4, 1.0) >= 760 and payload_block(4, 0.1) == 256
    theory = float(psk_ser_theory(4, 0.0))
    for h, ser in _segment_sers_at_0_db(4, 24, seed=3):
        assert h.pilot_spacing == 0
        assert ser <= theory + 5 * math.sqrt(theory / 12544)


@pytest.mark.parametrize("snr", [0.0, 4.0, 12.0, 20.0])
def test_noise_estimate_matches_the_channel_within_half_a_db(snr):
    rng = np.random.default_rng(int(snr))
    pts = psk_points(4).astype(np.complex64)
    sync = SegmentSync(pts)
    nvs = []
    for h, part in segment_batch(rng.integers(0, 4, 20000), 0, 25, "0123abcd", 2, 2000):
        y = _awgn(2.0 * frame_symbols(h, part, pts) * np.exp(0.5j), snr, rng, 2.0)
        nvs.append(sync.process(y[len(RAMP):].astype(np.complex64)).noise_var)
    assert -10 * math.log10(np.mean(nvs)) == pytest.approx(snr, abs=0.5)


def test_truncated_segment_is_refused_with_its_reason():
    pts = psk_points(4).astype(np.complex64)
    h, part = segment_batch(np.zeros(100, np.uint8), 0, 1, "0123abcd", 2, 2048)[0]
    fr = frame_symbols(h, part, pts)[len(RAMP):]
    for cut in (10, len(SYNC_WORD) + HEADER_SYMBOLS + 50):
        with pytest.raises(HeaderError) as err:
            SegmentSync(pts).process(fr[:cut])
        assert err.value.reason == "truncated"
    assert len(PREAMBLE) == len(RAMP) + len(SYNC_WORD)


def test_whole_16_psk_segments_at_0_db_pass_the_pilot_tail_check_and_cut_ones_do_not():
    """A 16-PSK segment (one 64-image batch of 196 symbols each) at 0 dB: 300 noise draws
    are all taken whole (the pilots' power against the noise, the former check, refused
    0.9 % through the link and fails here); the same segment with its last 2000 payload
    symbols replaced by noise, or by another burst's data, is refused as truncated."""
    pts = psk_points(16).astype(np.complex64)
    rng = np.random.default_rng(16)
    h, part = segment_batch(rng.integers(0, 16, 64 * 196), 0, 64, "0123abcd", 4, 16384)[0]
    assert h.pilot_spacing and len(part) == 64 * 196
    clean = frame_symbols(h, part, pts)[len(RAMP):] * np.exp(0.7j)
    sync = SegmentSync(pts)
    for _ in range(300):
        got = sync.process(_awgn(clean, 0.0, rng).astype(np.complex64))
        assert len(got.payload) == len(part)
    other = pts[rng.integers(0, 16, 2000)]
    for tail in (np.zeros(2000, np.complex64), other):
        cut = clean.copy()
        cut[len(cut) - 2000:] = tail
        with pytest.raises(HeaderError) as err:
            sync.process(_awgn(cut, 0.0, rng).astype(np.complex64))
        assert err.value.reason == "truncated"


@pytest.mark.parametrize("receiver", ["hard", "soft"])
def test_rx_tail_matches_the_torch_receiver_and_fills_erasures(receiver):
    """RxTail on a clean batch = PhyDNN.receive; erased positions look up the codebook mean
    weighted by the model's prior (how often each embedding is sent) and flag only their
    images as partial."""
    import torch

    from phydnn.data import load_dataset
    from phydnn.link import ReceivedBatch, RxTail, TxHead

    model = Path(__file__).resolve().parents[1] / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4"
    tx, rx = TxHead(model), RxTail(model, receiver)
    images = load_dataset("fashion-mnist", "test").images[:6].numpy()
    points = tx.encode(images)
    rng = np.random.default_rng(0)
    received = _awgn(tx.constellation[points.reshape(-1)], 8.0, rng).astype(np.complex64)
    nv = np.full(len(received), 10 ** -0.8, np.float32)
    pred = rx.classify(ReceivedBatch(0, 6, received, nv, 1))
    with torch.no_grad():
        ref = rx.model.receive(torch.from_numpy(received).reshape(6, 28, 28), 10 ** -0.8,
                               receiver)
    assert np.array_equal(pred.labels, ref.argmax(1).numpy()) and not pred.partial.any()
    received[2 * 784:3 * 784] = np.nan
    erased = rx.classify(ReceivedBatch(0, 6, received, nv, 1, [0]))
    assert erased.partial.tolist() == [False, False, True, False, False, False]
    with torch.no_grad():
        prior = rx.model.prior
        assert prior.max() > 1.2 / len(prior)        # the shipped model's use is uneven
        mean = (prior @ rx.model.codebook.embeddings).view(1, -1, 1, 1).expand(1, -1, 28, 28)
        expect = torch.softmax(rx.model.tail(mean), 1)[0].numpy()
    assert np.allclose(erased.probabilities[2], expect, atol=1e-5)


def test_sample_clock_keeps_time_by_the_samples():
    """A late caller gets everything due at once and the clock does not slip; after the input
    ran dry, the next sample starts when it is seen; nothing goes more than ahead_s early."""
    from phydnn.link.clock import SampleClock

    clock = SampleClock(1e6, ahead_s=1e-3)
    t0 = clock.next_airtime(10.0)
    assert t0 == 10.0 and clock.release(t0, 10.0, 5000) == 1000       # 1 ms ahead at most
    t1 = clock.next_airtime(10.004)                                    # woken 3 ms late
    assert t1 == pytest.approx(10.001)                                 # the samples' time
    assert clock.release(t1, 10.004, 4000) == 4000                     # all due: 3 + 1 ms
    assert clock.airtime(t1, 4000) == pytest.approx(10.005)
    assert clock.next_airtime(10.2) == 10.2                            # ran dry: idle, no credit
    assert SampleClock(1e6).next_airtime(0.5) == 0.5


def test_scrambler_whitens_a_run_of_one_point_and_is_undone_exactly():
    """A flat image sends one point for hundreds of symbols: on air the scrambled run has
    transitions (about 3/4 of neighbours differ, as for random QPSK); the receiver's
    descrambling gives the symbols back bit-exactly, and M-PSK (M = 4, 8, 16) stays on its
    constellation."""
    from phydnn.link.scrambler import descramble, scramble

    run = np.full(4000, psk_points(4)[1], np.complex64)
    air = scramble(run)
    changes = np.mean(np.abs(np.diff(air)) > 1e-3)
    assert 0.7 <= changes <= 0.8
    assert np.array_equal(descramble(air), run)
    for order in (4, 8, 16):
        pts = psk_points(order).astype(np.complex64)
        turned = scramble(pts[np.arange(4000) % order])
        nearest = np.min(np.abs(turned[:, None] - pts[None]), axis=1)
        assert nearest.max() < 1e-5


def test_equaliser_estimates_the_channel_and_removes_its_interference():
    """Three paths up to 5 symbols late at 12 dB: the least-squares taps match the channel,
    the MMSE equaliser's output error is within 20 % of the MMSE the design predicts, far
    below the unequalised one; on a flat channel no equaliser is made at any Es/N0."""
    from phydnn.link.equaliser import PRE, _mmse, design_equaliser, estimate_channel

    rng = np.random.default_rng(4)
    sent = (1 - 2 * rng.integers(0, 2, 1332)).astype(np.complex64)
    g = np.array([1.0, 0.0, 0.5j, 0.0, 0.0, -0.3])
    nv = 10 ** -1.2
    r = np.convolve(sent, g)[:1332] + math.sqrt(nv / 2) * (rng.standard_normal(1332)
                                                          + 1j * rng.standard_normal(1332))
    est, noise = estimate_channel(r.astype(np.complex64), sent)
    assert np.allclose(est[PRE:PRE + 6], g, atol=0.03) and noise == pytest.approx(nv, rel=0.15)
    eq = design_equaliser(r.astype(np.complex64), sent)
    out = eq.apply(r.astype(np.complex64))[40:-40]
    mse = float(np.mean(np.abs(out - sent[40:-40]) ** 2))
    predicted = _mmse(est, noise, 31)[2]
    assert mse <= 1.2 * predicted / (1 - predicted) + 0.005   # unbiased MMSE
    assert mse < 0.25 * float(np.mean(np.abs(r - sent) ** 2))     # 0.09 against 0.41
    for snr in (-3.0, 0.0, 12.0, 30.0):
        flat = _awgn(sent, snr, rng).astype(np.complex64)
        assert design_equaliser(flat, sent) is None


def test_fast_rotators_match_the_direct_one():
    """The payload's rotators (an outer product for a ramp, a Taylor series between exact
    phasors for a tracked phase) give exp(-j angle) to float32 rounding, and the series hands
    an angle that moves too fast to the direct rotator."""
    from phydnn.link.sync import TAYLOR_REACH, _ramp, _rotator, _smooth_rotator

    n = np.arange(12_345)
    for phase, freq in ((0.3, 1e-3), (-2.0, -4e-3), (100.0, 0.25)):
        exact = np.exp(-1j * (phase + 2 * np.pi * freq * n))
        assert np.max(np.abs(_ramp(phase, freq, len(n)) - exact)) < 2e-6
    rng = np.random.default_rng(0)
    slow = np.cumsum(rng.normal(0, 1e-3, len(n))) + 1.0      # a residual phase, rad
    assert np.max(np.abs(_smooth_rotator(slow) - np.exp(-1j * slow))) < 2e-6
    fast = n * (2 * TAYLOR_REACH)                           # steps beyond the series' reach
    assert np.array_equal(_smooth_rotator(fast), _rotator(fast))


def test_zoomed_squared_tone_is_the_whole_periodograms():
    """squared_tone's zoom (a 2048-point FFT, then 19 fine bins) finds the peak and the
    parabola of the whole 16 384-point periodogram, from -5 to 20 dB and across the span."""
    from phydnn.link.sync import FREQ_SPAN, squared_tone, squared_tone_reference

    rng = np.random.default_rng(5)
    for _ in range(300):
        snr, f = rng.uniform(-5, 20), rng.uniform(-2e-3, 2e-3)
        r = _awgn(rng.choice([-1.0, 1.0], HEADER_SYMBOLS) *
                  np.exp(2j * np.pi * f * np.arange(HEADER_SYMBOLS)), snr, rng)
        r = r.astype(np.complex64)
        assert squared_tone(r, FREQ_SPAN) == pytest.approx(
            squared_tone_reference(r, FREQ_SPAN), abs=1e-9)

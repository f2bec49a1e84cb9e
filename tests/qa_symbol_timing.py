"""qa for gr-phydnn's C++ timing recovery, ``symbol_timing_cc`` (gr-phydnn/lib): the same
symbols as its numpy reference (phydnn.link.timing) on the same samples, the timing of a
clock that runs 100 ppm off recovered as well as GNU Radio's symbol_sync_cc recovers it,
tags carried to the symbol they arrived with, and refusals of settings it cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio

SPS, ROLLOFF, NFILTERS, LOOP_BW, MAX_DEV = 2, 0.35, 32, 0.005, 4e-4


def _taps() -> np.ndarray:
    from phydnn.blocks.framer import rrc_taps
    return rrc_taps(SPS * NFILTERS, ROLLOFF) * np.sqrt(NFILTERS)


def _received(symbols: int, snr_db: float, clock_ppm: float = 100.0, seed: int = 3
              ) -> tuple[np.ndarray, np.ndarray]:
    """QPSK symbols, RRC-shaped at SPS, through GNU Radio's channel_model (noise at Es/N0,
    a fractional delay, a sample clock ``clock_ppm`` off): (sent symbols, received samples)."""
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim
    from phydnn.blocks.framer import rrc_taps

    rng = np.random.default_rng(seed)
    sent = (np.exp(1j * (np.pi / 4 + np.pi / 2 * rng.integers(0, 4, symbols)))
            ).astype(np.complex64)
    up = np.zeros(symbols * SPS, np.complex64)
    up[::SPS] = sent
    tx = np.convolve(up, rrc_taps(SPS, ROLLOFF)).astype(np.complex64)
    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    tb.connect(blocks.vector_source_c(tx.tolist(), False),
               channel_sim(snr_db, 0.0, clock_ppm, 0.37, seed=seed), sink)
    tb.run()
    return sent, np.asarray(sink.data(), np.complex64)


def _run(block, samples: np.ndarray, tags=()) -> tuple[np.ndarray, list]:
    from gnuradio import blocks, gr

    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    tb.connect(blocks.vector_source_c(samples.tolist(), False, 1, list(tags)), block, sink)
    tb.run()
    return np.asarray(sink.data(), np.complex64), sink.tags()


def _native(max_dev: float = MAX_DEV):
    from gnuradio.phydnn import symbol_timing_cc
    return symbol_timing_cc(SPS, LOOP_BW, 1.0, 1.0, max_dev, NFILTERS, _taps().tolist())


def _snr_db(symbols: np.ndarray, skip: int = 2000) -> float:
    """Es/N0 from QPSK decisions after the loop has settled (gain and phase fitted out)."""
    y = symbols[skip:]
    y = y * np.exp(-1j * np.angle(-np.mean(y ** 4)) / 4)    # points back on the diagonals
    y = y / np.sqrt(np.mean(np.abs(y) ** 2))
    ideal = (np.sign(y.real) + 1j * np.sign(y.imag)) / np.sqrt(2)
    gain = np.real(np.vdot(ideal, y)) / len(y)
    return float(10 * np.log10(gain ** 2 / np.mean(np.abs(y - gain * ideal) ** 2)))


def test_symbols_match_the_numpy_reference():
    from phydnn.link.timing import gardner_timing

    _, rx = _received(6000, 10.0)
    out, _ = _run(_native(), rx)
    ref, positions, periods = gardner_timing(rx, SPS, LOOP_BW, 1.0, 1.0, MAX_DEV, NFILTERS,
                                             _taps())
    n = min(len(out), len(ref))
    assert abs(len(out) - len(ref)) <= 3 and n > 5900   # the stream's last symbols aside
    # the same to float rounding, symbol by symbol, until a position falls within rounding
    # of the boundary between two arms and the two pick neighbouring arms (1/32 of a
    # sample apart; the dot products sum in another order): that symbol differs by a few
    # hundredths, its error moves the loop by as little, and from then on the two
    # trajectories stay a hair apart, so such picks recur (on 3 % of these symbols) while
    # the symbols as a whole stay the same
    diff = np.abs(out[:n] - ref[:n])
    assert np.max(diff[:100]) < 1e-5
    assert np.median(diff) < 1e-6 and np.mean(diff < 1e-4) > 0.95
    assert np.max(diff) < 0.1
    assert _snr_db(out[:n]) == pytest.approx(_snr_db(ref[:n]), abs=0.05)
    # the loop really moved: the period left sps towards the clock's offset
    assert abs(periods[-1] - SPS) > 1e-5


def test_timing_recovered_as_well_as_gnu_radio_symbol_sync():
    from gnuradio import digital

    _, rx = _received(40000, 20.0)
    stock = digital.symbol_sync_cc(digital.TED_GARDNER, SPS, LOOP_BW, 1.0, 1.0, MAX_DEV, 1,
                                   digital.constellation_bpsk().base(), digital.IR_PFB_MF,
                                   NFILTERS, _taps().tolist())
    block = _native()
    ours, _ = _run(block, rx)
    theirs, _ = _run(stock, rx)
    # 20 dB Es/N0 in: what the matched filter gives at the right instants, jitter aside
    assert _snr_db(ours) > 19.5
    assert _snr_db(ours) > _snr_db(theirs) - 0.2
    # the receiver's clock runs 100 ppm fast against the transmitter's: a symbol lasts
    # 2e-4 of its samples fewer, and the loop's period holds that
    assert block.avg_period() == pytest.approx(SPS * (1 - 1e-4), abs=5e-5)


def test_the_period_stays_within_its_limit():
    """max_deviation bounds the average period (the proportional arm still follows the
    phase): with 0 it stays at sps whatever the clock does, with 1e-4 it stops there."""
    _, rx = _received(40000, 20.0)
    for limit in (0.0, 1e-4):
        block = _native(max_dev=limit)
        _run(block, rx)
        assert block.avg_period() == pytest.approx(SPS - limit, abs=1e-5)


def test_tags_come_out_on_the_symbol_they_arrived_with():
    import pmt
    from gnuradio import gr

    from phydnn.link.timing import gardner_timing

    _, rx = _received(4000, 20.0, clock_ppm=0.0)
    at = [0, 1000, 2001, 5000]     # 0: before the first symbol
    tags = []
    for offset in at:
        tag = gr.tag_t()
        tag.offset, tag.key, tag.value = offset, pmt.intern("rx_time"), pmt.from_long(offset)
        tags.append(tag)
    _, out_tags = _run(_native(), rx, tags)
    delay = (len(_taps()) - 1) / (2 * NFILTERS)       # the matched filter's, in samples
    _, positions, _ = gardner_timing(rx, SPS, LOOP_BW, 1.0, 1.0, MAX_DEV, NFILTERS, _taps())
    got = {pmt.to_long(t.value): t.offset for t in out_tags}
    assert sorted(got) == at
    for offset in at:   # the first symbol whose matched filter has reached that sample
        assert got[offset] == int(np.searchsorted(positions - delay, offset))


@pytest.mark.parametrize("args, word", [
    ((1, LOOP_BW, 1.0, 1.0, 0.0, NFILTERS), "sps"),
    ((SPS, LOOP_BW, 1.0, 1.0, 1.5, NFILTERS), "max_deviation"),
    ((SPS, 0.0, 1.0, 1.0, 0.0, NFILTERS), "loop_bw"),
])
def test_bad_settings_are_refused_by_name(args, word):
    from gnuradio.phydnn import symbol_timing_cc

    with pytest.raises(ValueError, match=word):
        symbol_timing_cc(*args, _taps().tolist())


def test_the_deframer_refuses_an_unknown_timing_block():
    from phydnn.blocks import deframer
    from phydnn.errors import ConfigError

    with pytest.raises(ConfigError, match="timing"):
        deframer("", timing="mueller")

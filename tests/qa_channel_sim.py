"""qa for the channel simulator (gr-phydnn's channel_cc, blocks.channel_sim.air_channel): the same
samples as GNU Radio's chain of blocks it replaces; its noise (fastnoise_source_c's draw
with a pool of NOISE_POOL Gaussian values, in place of channel_model's 16384): complex
Gaussian with the power Es/N0 calls for, no repeats that a receiver could learn (no
correlation at any lag, the pool's size included; another seed, other noise), and the same
offsets as channel_model applies."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


def _noise(snr_db: float, n: int, seed: int, **kw) -> np.ndarray:
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim

    tb = gr.top_block()
    head = blocks.head(gr.sizeof_gr_complex, n)
    sink = blocks.vector_sink_c()
    tb.connect(blocks.null_source(gr.sizeof_gr_complex), channel_sim(snr_db, seed=seed, **kw),
               head, sink)
    tb.run()
    return np.asarray(sink.data(), np.complex64)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return _noise(6.0, 1 << 22, seed=11)       # four times the pool


def test_noise_power_is_n0_per_sample(noise):
    n0 = 10 ** (-6.0 / 10)
    power = float(np.mean(np.abs(noise) ** 2))
    assert power == pytest.approx(n0, rel=0.01)          # 4e6 samples: sd 0.05 %
    # circular: the same power in I and Q, no I/Q correlation
    assert np.mean(noise.real ** 2) == pytest.approx(n0 / 2, rel=0.01)
    assert np.mean(noise.imag ** 2) == pytest.approx(n0 / 2, rel=0.01)
    assert abs(np.mean(noise.real * noise.imag)) < 0.005 * n0


def test_noise_is_gaussian(noise):
    from scipy import stats

    x = noise.real / np.sqrt(np.mean(noise.real ** 2))
    assert stats.kurtosis(x) == pytest.approx(0.0, abs=0.02)   # sd 0.0024 for Gaussian
    # tails: P(|x| > 3) of a standard Gaussian is 2.70e-3
    assert np.mean(np.abs(x) > 3) == pytest.approx(2.70e-3, rel=0.05)
    assert stats.kstest(x[:200_000], "norm").pvalue > 1e-3


@pytest.mark.parametrize("lag", [1, 2, 7, 16384, 1 << 20, (1 << 20) + 1, 3 << 20])
def test_no_correlation_at_any_lag_the_pool_size_included(noise, lag):
    """A table that cycled would repeat at its size (channel_model's 16384, this pool's
    2^20); fastnoise_source_c picks at random, so every lag is uncorrelated."""
    a, b = noise[:-lag], noise[lag:]
    rho = abs(np.vdot(a, b)) / np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)
    assert rho < 5 / np.sqrt(len(a))


def test_another_seed_draws_other_noise():
    a, b = _noise(6.0, 100_000, seed=1), _noise(6.0, 100_000, seed=2)
    rho = abs(np.vdot(a, b)) / np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)
    assert rho < 0.02
    assert np.array_equal(a, _noise(6.0, 100_000, seed=1))   # a seed is a run, again


def test_set_snr_db_moves_the_noise_power():
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim

    ch = channel_sim(20.0, seed=3)
    ch.set_snr_db(0.0)
    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    tb.connect(blocks.null_source(8), ch, blocks.head(8, 200_000), sink)
    tb.run()
    assert np.mean(np.abs(np.asarray(sink.data())) ** 2) == pytest.approx(1.0, rel=0.02)


def test_offsets_are_channel_models():
    """A tone through the simulator comes out at the frequency and clock channel_model
    gives it (noise off)."""
    from gnuradio import analog, blocks, channels, gr

    def through(make) -> np.ndarray:
        tb = gr.top_block()
        sink = blocks.vector_sink_c()
        tone = analog.sig_source_c(1.0, analog.GR_COS_WAVE, 0.01, 1.0)
        tb.connect(tone, blocks.head(8, 100_000), make(), sink)
        tb.run()
        return np.asarray(sink.data(), np.complex64)[1000:90_000]

    from phydnn.blocks import channel_sim

    ours = through(lambda: channel_sim(100.0, 2e-3, 200.0, 0.0, seed=1))
    ref = through(lambda: channels.channel_model(0.0, 2e-3, 1 + 200e-6, [1.0, 0.0], 1))

    def freq(x: np.ndarray) -> float:
        return float(np.angle(np.vdot(x[:-1], x[1:])) / (2 * np.pi))

    assert freq(ours) == pytest.approx(freq(ref), abs=1e-6)
    assert abs(freq(ours) - 0.012) > 1e-6          # the clock offset moved it too


def _gnuradio_chain(noise_voltage: float, phase_inc: float, ratio: float, mu: float,
                    taps: list[complex], seed: int, pool: int) -> list:
    """The reference: what channel_cc computes, as GNU Radio's own blocks chained."""
    from gnuradio import analog, blocks
    from gnuradio import filter as grfilter

    chain = []
    if ratio != 1.0 or mu != 0.0:
        chain.append(grfilter.mmse_resampler_cc(mu, ratio))
    if list(taps) != [1.0]:
        chain.append(grfilter.fir_filter_ccc(1, taps))
    chain.append(blocks.rotator_cc(phase_inc))
    return chain + [analog.fastnoise_source_c(analog.GR_GAUSSIAN, noise_voltage, seed, pool)]


@pytest.mark.parametrize("args", [
    (0.1, 0.01, 1.00005, 0.37, [1.0], 3, 1 << 16),          # the demo's clock and delay
    (0.0, 0.006, 1.0, 0.0, [1.0], 3, 1 << 10),              # frequency only, no noise
    (0.3, 0.0, 1.0, 0.0, [1.0], 5, 1 << 20),                # noise only: the pool's draw
    (0.05, 0.02, 1 - 2e-4, 0.0, [1.0, 0.3j, 0.1], 7, 1 << 12),   # a slow clock, multipath
    (0.0, 0.0, 1.0, 0.5, [1.0], 1, 4),                      # a fractional delay alone
])
def test_channel_cc_is_gnuradios_chain_sample_for_sample(args):
    """gr-phydnn's one-block channel against mmse_resampler_cc -> fir_filter_ccc ->
    rotator_cc -> add_cc(fastnoise_source_c) on the same random signal: the same samples
    (the rotator's float rounding aside: it renormalises per call, and the calls differ),
    the noise the very same draws."""
    from gnuradio import blocks, gr
    from gnuradio.phydnn import channel_cc

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000)).astype(np.complex64)

    def run(connect) -> np.ndarray:
        tb = gr.top_block()
        src, sink = blocks.vector_source_c(x.tolist(), False), blocks.vector_sink_c()
        connect(tb, src, sink)
        tb.run()
        return np.asarray(sink.data(), np.complex64)

    def reference(tb, src, sink):
        *chain, noise = _gnuradio_chain(*args)
        add = blocks.add_cc()
        tb.connect(src, *chain, (add, 0))
        tb.connect(noise, (add, 1))
        tb.connect(add, sink)

    ours = run(lambda tb, src, sink: tb.connect(src, channel_cc(*args), sink))
    ref = run(reference)
    n = min(len(ours), len(ref))
    assert n > 0.99 * len(x)
    assert np.max(np.abs(ours[:n] - ref[:n])) < 1e-4
    assert np.max(np.abs(ours[:n] - ref[:n])) < 1e-3 * np.max(np.abs(ref[:n]))


def test_channel_cc_refuses_bad_settings():
    from gnuradio.phydnn import channel_cc

    for args, what in [((0.1, 0.0, 0.0, 0.0, [1], 1, 16), "ratio"),
                       ((0.1, 0.0, 1.0, 1.0, [1], 1, 16), "mu"),
                       ((0.1, 0.0, 1.0, 0.0, [], 1, 16), "taps"),
                       ((0.1, 0.0, 1.0, 0.0, [1], 1, 1000), "pool"),
                       ((-0.1, 0.0, 1.0, 0.0, [1], 1, 16), "noise_voltage")]:
        with pytest.raises(ValueError, match=what):
            channel_cc(*args)

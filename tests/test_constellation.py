"""M-PSK: geometry, modulation, hard decisions against theory, soft posteriors' calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from phydnn.errors import ConfigError
from phydnn.phy import AWGNChannel, PSKConstellation, psk_ser_theory

N_SYMBOLS = 200_000


@pytest.mark.parametrize("order", [2, 3, 4, 8, 16, 32])
def test_points_have_unit_peak_power_and_are_distinct(order):
    c = PSKConstellation(order)
    assert torch.allclose(c.points.abs(), torch.ones(order))
    d = (c.points[:, None] - c.points[None, :]).abs() + torch.eye(order) * 10
    assert float(d.min()) == pytest.approx(2 * math.sin(math.pi / order), rel=1e-5)


def test_qpsk_matches_gnuradio_convention():
    pts = PSKConstellation(4).points
    expected = torch.tensor([1 + 1j, -1 + 1j, -1 - 1j, 1 - 1j], dtype=torch.complex64) / 2 ** 0.5
    assert torch.allclose(pts, expected, atol=1e-6)


def test_adjacent_indices_are_adjacent_points():
    c = PSKConstellation(8)
    step = (c.points.roll(-1) - c.points).abs()
    assert torch.allclose(step, torch.full((8,), 2 * math.sin(math.pi / 8)), atol=1e-6)


@pytest.mark.parametrize("order", [2, 4, 8, 16])
def test_noiseless_round_trip(order):
    c = PSKConstellation(order)
    k = torch.randint(0, order, (3, 50))
    assert torch.equal(c.demodulate_hard(c.modulate(k)), k)


@pytest.mark.parametrize("order,snrs", [(2, (0.0, 3.0, 6.0)), (4, (3.0, 6.0, 9.0)),
                                        (8, (8.0, 11.0, 14.0)), (16, (14.0, 17.0, 20.0))])
def test_ser_over_awgn_matches_theory(order, snrs):
    """Measured SER within 5 binomial standard deviations (+ 2 % relative) of Craig's formula."""
    c = PSKConstellation(order)
    gen = torch.Generator().manual_seed(order)
    k = torch.randint(0, order, (N_SYMBOLS,), generator=gen)
    for snr in snrs:
        y = AWGNChannel(snr)(c.modulate(k), gen).symbols
        ser = float((c.demodulate_hard(y) != k).float().mean())
        p = float(psk_ser_theory(order, snr))
        sd = math.sqrt(p * (1 - p) / N_SYMBOLS)
        assert abs(ser - p) <= 5 * sd + 0.02 * p, (order, snr, ser, p)
        assert p > 1e-3  # the test point is informative


def test_ser_theory_known_values():
    # BPSK: Q(sqrt(2*Es/N0)); at 0 dB Q(sqrt 2) = 0.078650
    assert float(psk_ser_theory(2, 0.0)) == pytest.approx(0.0786496, rel=1e-4)
    # QPSK: 2Q(a) - Q(a)^2 with a = sqrt(Es/N0); at 10 dB a = sqrt(10)
    q = 0.5 * math.erfc(math.sqrt(10) / math.sqrt(2))
    assert float(psk_ser_theory(4, 10.0)) == pytest.approx(2 * q - q * q, rel=1e-4)


@pytest.mark.parametrize("order,snr", [(4, 3.0), (8, 9.0), (16, 14.0)])
def test_soft_posterior_is_calibrated(order, snr):
    """Mean max-posterior equals the measured accuracy of the MAP decision."""
    c = PSKConstellation(order)
    ch = AWGNChannel(snr)
    k = torch.randint(0, order, (100_000,))
    out = ch(c.modulate(k))
    post = c.demodulate_soft(out.symbols, out.noise_var)
    assert torch.allclose(post.sum(-1), torch.ones(len(k)), atol=1e-5)
    conf, map_k = post.max(-1)
    acc = float((map_k == k).float().mean())
    assert torch.equal(map_k, c.demodulate_hard(out.symbols))
    assert float(conf.mean()) == pytest.approx(acc, abs=0.01)
    # and the posterior of the true symbol is on average what a calibrated model predicts
    assert float(post.gather(-1, k[:, None]).mean()) == pytest.approx(
        float((post ** 2).sum(-1).mean()), abs=0.01)


def test_modulate_onehot_is_differentiable_and_exact():
    c = PSKConstellation(4)
    w = torch.nn.functional.one_hot(torch.tensor([0, 3, 2]), 4).float().requires_grad_()
    s = c.modulate_onehot(w)
    assert torch.allclose(s, c.modulate(torch.tensor([0, 3, 2])))
    s.real.sum().backward()
    assert w.grad is not None and torch.allclose(w.grad[0], c.points.real)


@pytest.mark.parametrize("bad", [1, 0, -4, 2.5, True])
def test_bad_order_names_the_setting(bad):
    with pytest.raises(ConfigError, match="M="):
        PSKConstellation(bad)


def test_out_of_range_indices_are_refused():
    with pytest.raises(ConfigError, match=r"\[0, 4\)"):
        PSKConstellation(4).modulate(torch.tensor([0, 4]))


def test_soft_needs_positive_noise():
    c = PSKConstellation(4)
    with pytest.raises(ConfigError, match="noise_var"):
        c.demodulate_soft(c.points, 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_runs_on_gpu():
    c = PSKConstellation(8).cuda()
    k = torch.randint(0, 8, (1000,), device="cuda")
    y = AWGNChannel(30.0)(c.modulate(k)).symbols
    assert y.is_cuda and torch.equal(c.demodulate_hard(y), k)


def test_theory_is_monotone_in_snr():
    s = psk_ser_theory(8, np.arange(0, 21))
    assert np.all(np.diff(s) < 0) and s[0] < 1 - 1 / 8 + 1e-9

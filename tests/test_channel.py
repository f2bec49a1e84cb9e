"""Channels: AWGN noise power, fading statistics and equalisation, phase offset, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from phydnn.errors import ConfigError
from phydnn.phy import (
    AWGNChannel,
    ChannelChain,
    FadingChannel,
    PhaseOffset,
    PSKConstellation,
    snr_db_to_noise_var,
)


@pytest.mark.parametrize("snr", [0.0, 4.0, 12.0, 20.0])
def test_awgn_noise_variance_matches_es_n0(snr):
    x = PSKConstellation(4).modulate(torch.randint(0, 4, (200_000,)))
    out = AWGNChannel(snr)(x)
    n = out.symbols - x
    measured_db = 10 * math.log10(1.0 / float(n.abs().square().mean()))
    assert measured_db == pytest.approx(snr, abs=0.05)
    # circular: real and imaginary halves carry equal power, uncorrelated
    assert float(n.real.var()) == pytest.approx(float(n.imag.var()), rel=0.03)
    assert abs(float((n.real * n.imag).mean())) < 0.01 * float(n.real.var()) + 1e-4
    assert float(out.noise_var) == pytest.approx(snr_db_to_noise_var(snr))


def test_awgn_is_differentiable_for_training_graphs():
    x = torch.randn(10, dtype=torch.complex64, requires_grad=True)
    AWGNChannel(10.0)(x).symbols.abs().sum().backward()
    assert x.grad is not None


def test_rayleigh_bpsk_ser_matches_closed_form():
    """Average BPSK SER over Rayleigh with perfect CSI: 0.5 (1 - sqrt(g / (1 + g)))."""
    c = PSKConstellation(2)
    k = torch.randint(0, 2, (400_000,))
    for snr in (5.0, 15.0):
        out = FadingChannel(snr, "rayleigh")(c.modulate(k))
        ser = float((c.demodulate_hard(out.symbols) != k).float().mean())
        g = 10 ** (snr / 10)
        assert ser == pytest.approx(0.5 * (1 - math.sqrt(g / (1 + g))), rel=0.05)


def test_fading_gain_has_unit_power_and_blocks_share_it():
    ch = FadingChannel(200.0, "rician", k_factor=3.0, block_length=8)
    x = torch.ones(4000, 64, dtype=torch.complex64)
    # with perfect CSI and negligible noise, equalisation recovers x exactly
    out = ch(x)
    assert torch.allclose(out.symbols, x, atol=1e-3)
    h = ch.gains((200_000,), None, None)
    assert float(h.abs().square().mean()) == pytest.approx(1.0, rel=0.02)
    # Rician K from the fourth moment: E|h|^4 / (E|h|^2)^2 = (2 + 4K + K^2) / (K + 1)^2
    kurt = float(h.abs().pow(4).mean() / h.abs().square().mean() ** 2)
    assert kurt == pytest.approx((2 + 12 + 9) / 16, rel=0.02)
    ray = FadingChannel(10.0, "rayleigh").gains((200_000,), None, None)
    assert float(ray.abs().pow(4).mean()) == pytest.approx(2.0, rel=0.03)


def test_rician_large_k_approaches_awgn():
    c = PSKConstellation(4)
    k = torch.randint(0, 4, (200_000,))
    awgn = float((c.demodulate_hard(AWGNChannel(8.0)(c.modulate(k)).symbols) != k).float().mean())
    ric = FadingChannel(8.0, "rician", k_factor=1000.0)(c.modulate(k))
    ser = float((c.demodulate_hard(ric.symbols) != k).float().mean())
    assert ser == pytest.approx(awgn, rel=0.15)


def test_noisy_csi_costs_accuracy_and_reports_noise():
    c = PSKConstellation(4)
    k = torch.randint(0, 4, (100_000,))
    perfect = FadingChannel(15.0, "rayleigh")(c.modulate(k))
    noisy = FadingChannel(15.0, "rayleigh", csi_error_var=0.1)(c.modulate(k))
    ser_p = float((c.demodulate_hard(perfect.symbols) != k).float().mean())
    ser_n = float((c.demodulate_hard(noisy.symbols) != k).float().mean())
    assert ser_n > 1.5 * ser_p
    assert perfect.noise_var.shape == k.shape and bool((perfect.noise_var > 0).all())


def test_phase_offset_rotates_and_chain_composes():
    c = PSKConstellation(8)
    k = torch.arange(8)
    rotated = PhaseOffset(2 * math.pi / 8)(c.modulate(k)).symbols
    assert torch.equal(c.demodulate_hard(rotated), (k + 1) % 8)
    out = ChannelChain(PhaseOffset(0.1), AWGNChannel(10.0))(c.modulate(k))
    assert float(out.noise_var) == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs,match", [
    ({"fading": "nakagami"}, "fading="),
    ({"block_length": 0}, "block_length="),
    ({"k_factor": -1.0}, "k_factor="),
    ({"csi_error_var": -0.1}, "csi_error_var="),
])
def test_bad_fading_settings_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FadingChannel(10.0, **kwargs)


@pytest.mark.parametrize("bad", ["12", float("nan"), None])
def test_snr_must_be_a_number(bad):
    with pytest.raises(ConfigError, match="snr_db="):
        AWGNChannel(bad)


# --- ChannelSpec: the named channel of training, eval and the link simulation -----------------
def test_channel_spec_rayleigh_fast_bpsk_ber_matches_closed_form():
    """Rayleigh, a new gain per symbol, perfect CSI: BPSK BER = (1 - sqrt(g / (1 + g))) / 2
    with g the average Es/N0; estimated CSI from 127 symbols costs a little, never helps."""
    from phydnn.phy import ChannelSpec

    torch.manual_seed(0)
    x = (1 - 2 * torch.randint(0, 2, (400, 1000))).to(torch.complex64)
    g = 10 ** (10 / 10)
    theory = (1 - math.sqrt(g / (1 + g))) / 2
    bers = {}
    for csi in ("perfect", "estimated"):
        out = ChannelSpec("rayleigh", "fast", csi=csi).check().apply(x, 1 / g)
        bers[csi] = float(((out.symbols.real < 0) != (x.real < 0)).float().mean())
    assert bers["perfect"] == pytest.approx(theory, rel=0.05)
    assert bers["perfect"] <= bers["estimated"] <= 1.2 * bers["perfect"]


def test_channel_spec_block_fading_is_one_gain_per_image_and_reports_its_noise():
    from phydnn.phy import ChannelSpec

    torch.manual_seed(1)
    x = torch.ones(2000, 14, 14, dtype=torch.complex64)
    out = ChannelSpec("rayleigh", csi="perfect").check().apply(x, torch.full((2000,), 1e-6))
    flat = out.noise_var.reshape(2000, -1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat))    # one gain per image
    # post-equaliser noise sigma^2 / |h|^2 with E|h|^2 = 1: its median is sigma^2 / ln 2
    assert float(flat[:, 0].median()) == pytest.approx(1e-6 / math.log(2), rel=0.1)
    assert out.symbols.shape == x.shape


def test_channel_spec_phase_error_rotates_unknown_to_the_receiver():
    from phydnn.phy import ChannelSpec

    torch.manual_seed(2)
    x = torch.ones(5000, 10, dtype=torch.complex64)
    out = ChannelSpec("phase", phase_error_deg=10.0).check().apply(x, 1e-8)
    angles = torch.angle(out.symbols[:, 0])
    assert float(angles.std()) == pytest.approx(math.radians(10.0), rel=0.05)
    assert float(out.noise_var.max()) == pytest.approx(1e-8)


@pytest.mark.parametrize("kwargs,match", [
    ({"kind": "ricean"}, "channel="), ({"fading": "slow"}, "fading="),
    ({"csi": "genie"}, "csi="), ({"kind": "phase"}, "phase_error_deg > 0")])
def test_channel_spec_refuses_bad_settings_by_name(kwargs, match):
    from phydnn.phy import ChannelSpec

    with pytest.raises(ConfigError, match=match):
        ChannelSpec(**kwargs).check()


def test_training_config_takes_a_channel_and_names_a_bad_one():
    from phydnn.training.config import load_config

    cfg = load_config(overrides=["channel=rician", "channel_k_factor=5"])
    assert cfg.channel_spec().kind == "rician" and cfg.channel_spec().k_factor == 5.0
    with pytest.raises(ConfigError, match="channel settings"):
        load_config(overrides=["channel=underwater"])


# --- ITU-R M.1225 power-delay profiles ----------------------------------------------------------
@pytest.mark.parametrize("name,delays_ns", [
    ("itu-indoor-a", (0, 50, 110, 170, 290, 310)), ("itu-indoor-b", (0, 100, 200, 300, 500, 700)),
    ("itu-pedestrian-a", (0, 110, 190, 410))])
def test_profiles_are_the_standards_paths_at_the_sample_rate(name, delays_ns):
    """Delays in samples = ns x rate; amplitudes of unit total power with the standard's
    first path strongest; the static taps have unit energy and put each integer-delay
    path's amplitude on its sample."""
    import numpy as np

    from phydnn.phy.profiles import profile_paths, profile_taps

    delays, amps = profile_paths(name, 20e6)
    assert np.allclose(delays, np.array(delays_ns) * 0.02)
    assert float(np.sum(amps ** 2)) == pytest.approx(1.0) and amps[0] == amps.max()
    taps = profile_taps(name, 20e6)
    assert float(np.sum(np.abs(taps) ** 2)) == pytest.approx(1.0, rel=1e-5)
    for d, a in zip(delays, amps, strict=True):
        if float(d).is_integer():
            assert abs(taps[int(d)]) == pytest.approx(a, rel=0.05, abs=0.01)
    assert len(taps) <= int(np.ceil(delays.max())) + 9


def test_unknown_profile_is_refused_by_name():
    from phydnn.phy.profiles import profile_taps

    with pytest.raises(ConfigError, match="profile 'itu-vehicular-z' is not known"):
        profile_taps("itu-vehicular-z", 20e6)

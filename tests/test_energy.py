"""The bench's device energy model: airtime from the link's framing, joules from the named
constants (phydnn.bench.energy)."""

from __future__ import annotations

import math

import pytest


def test_airtime_counts_every_segments_preamble_header_and_pad():
    from phydnn.bench.energy import batch_airtime_s

    # 64 x 784 = 50 176 symbols -> 4 segments of 12 544; each adds 159 + 1332 + 16 framing,
    # the batch's first a 512-symbol lead ramp
    assert batch_airtime_s(784) == pytest.approx((50_176 + 4 * 1507 + 512) * 2 / 20e6)
    # 64 x 196 = 12 544 -> 1 segment
    assert batch_airtime_s(196) == pytest.approx((12_544 + 1507 + 512) * 2 / 20e6)
    assert batch_airtime_s(196, sps=4, samp_rate=10e6) == pytest.approx(
        (12_544 + 1507 + 512) * 4 / 10e6)
    # 16-PSK carries the link's pilots: one before every 32 data symbols, one after the last
    assert batch_airtime_s(196, pilot_spacing=32) == pytest.approx(
        (12_544 + 392 + 1 + 1507 + 512) * 2 / 20e6)


def test_energy_is_compute_plus_radio_from_the_named_constants():
    from phydnn.bench.energy import E_MAC_J, P_RADIO_W, energy_row

    assert math.isclose(E_MAC_J, 15.0 / (1024 * 625e6))           # 23.4 pJ per MAC
    assert math.isclose(P_RADIO_W, 0.1 / 0.35 + 0.0982)
    row = energy_row("x", 11_000_000, 6.9e-3)
    assert row["compute_mj"] == pytest.approx(64 * 11e6 * E_MAC_J * 1e3)
    assert row["radio_mj"] == pytest.approx(P_RADIO_W * 6.9e-3 * 1e3)
    assert math.isclose(row["total_mj"], row["compute_mj"] + row["radio_mj"])

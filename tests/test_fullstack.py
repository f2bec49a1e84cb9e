"""Full-stack baselines: 802.11a airtime against the standard's numbers, TCP segment counts
from the kernel against the MSS, BottleFit training on digits, the timeline's breakdown."""

from __future__ import annotations

import math

import pytest
import torch

from phydnn.errors import CheckpointError, ConfigError
from phydnn.fullstack import TcpLink, WifiAirtime, rate_for_snr, required_snr_db
from phydnn.fullstack.wifi import WIFI_RATES_MBPS
from phydnn.link.timeline import Timeline, latency_breakdown, write_latency_csv


@pytest.mark.parametrize("psdu,rate,us", [(1536, 54, 248.0), (1500, 6, 2024.0), (14, 24, 28.0),
                                          (14, 6, 44.0), (100, 12, 92.0)])
def test_ppdu_duration_matches_802_11_eq_17_29(psdu, rate, us):
    """20 us of preamble + SIGNAL, then 4 us per OFDM symbol of N_DBPS bits (16 service
    bits + 8 per byte + 6 tail bits), by hand: e.g. 1536 B at 54 Mb/s -> 57 symbols."""
    assert WifiAirtime.txtime_us(psdu, rate) == us


def test_mpdu_adds_difs_backoff_sifs_and_ack_at_the_basic_rate():
    w = WifiAirtime(54)
    # DIFS 34 + 7.5 slots of 9 us + data (24+8+1500+4 = 1536 B: 248 us) + SIFS 16 + ACK at 24
    assert w.mpdu_us(1500) == pytest.approx(34 + 67.5 + 248 + 16 + 28)
    assert WifiAirtime(9).ack_rate == 6 and WifiAirtime(36).ack_rate == 24
    # 10 segments of 1448 payload bytes + 3 ACKs, headers of 52 bytes
    assert w.tcp_us(14480, 10, 3) == pytest.approx(10 * w.mpdu_us(1500) + 3 * w.mpdu_us(52))


def test_rate_for_snr_follows_the_sensitivity_table():
    assert rate_for_snr(12.0) == 24 and rate_for_snr(0.0) == 6 and rate_for_snr(30.0) == 54
    assert [required_snr_db(r) for r in WIFI_RATES_MBPS] == sorted(
        required_snr_db(r) for r in WIFI_RATES_MBPS)
    with pytest.raises(ConfigError, match="rate_mbps=11 is not allowed"):
        WifiAirtime(11)


@pytest.mark.parametrize("n", [100, 14_480, 200_704])
def test_tcp_link_counts_segments_at_the_ethernet_mss(n):
    with TcpLink(lambda b: len(b).to_bytes(4, "big")) as link:
        reply, t = link.send(bytes(n))
    assert int.from_bytes(reply, "big") == n
    assert t.payload_bytes == n + 8 and t.header_bytes in (40, 52)
    mss = 1500 - t.header_bytes
    full = math.ceil((n + 8) / mss)   # no segment exceeds the MSS; with TCP_NODELAY a few
    assert full <= t.data_segments <= 1.5 * full + 2   # may leave before they are full
    assert t.ack_segments >= 1
    assert t.wire_bytes == t.payload_bytes + (t.data_segments + t.ack_segments) * t.header_bytes


def test_timeline_breakdown_and_bounded_store(tmp_path):
    tl = Timeline(capacity=3)
    marks = {"head_in": 10.0, "head_s": 0.01, "map_s": 0.002, "air_symbols": 65_000,
             "air_start": 10.02, "air_end": 10.03, "rx_last": 10.05, "tail_s": 0.02,
             "done": 10.08}
    for k, v in marks.items():
        tl.mark(7, k, v)
    tl.mark(7, "air_start", 99.0, keep_first=True)
    parts = latency_breakdown(tl.rows()[0], sps=2, samp_rate=20e6)
    assert parts["airtime"] == pytest.approx(65_000 * 2 / 20e6)
    assert parts["rx_dsp"] == pytest.approx(0.02) and parts["end_to_end"] == pytest.approx(0.08)
    assert parts["sum_of_parts"] == pytest.approx(0.01 + 0.002 + 0.0065 + 0.02 + 0.02)
    assert parts["air_measured"] == pytest.approx(0.01)
    tl.mark(8, "head_in", 1.0)                      # incomplete: left out of the CSV
    lines = write_latency_csv(tmp_path / "lat.csv", 2, 20e6, tl).read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("7,")
    assert lines[1].endswith(",nan")                # no air clock, no release lag: not 0
    for b in range(9, 20):
        tl.add(b, "head_s", 0.1)
    assert len(tl) == 3 and [r["batch_id"] for r in tl.rows()] == [17, 18, 19]


@pytest.fixture(scope="module")
def digits_backbone(tmp_path_factory):
    from phydnn.training import PretrainConfig, pretrain
    out = tmp_path_factory.mktemp("bf") / "digits_r20"
    pretrain(PretrainConfig(dataset="digits", epochs=4, batch_size=64, lr=0.05, out=str(out)))
    return out


def test_bottlefit_trains_sends_width_channels_and_reloads(digits_backbone, tmp_path):
    from phydnn.data import load_digits
    from phydnn.training import accuracy
    from phydnn.training.bottlefit import BottleFitConfig, load_bottlefit, train_bottlefit

    cfg = BottleFitConfig(pretrained=str(digits_backbone), width=1, epochs_stage1=3,
                          epochs_stage2=3, batch_size=64, out=str(tmp_path / "bf1"))
    card = train_bottlefit(cfg)
    test = load_digits("test")
    assert card["stage1_feature_mse"][-1] < card["stage1_feature_mse"][0]
    assert card["feature_shape"] == [1, 8, 8] and card["bytes_per_image"] == 4 * 64
    assert card["test_accuracy"] > 0.5                     # chance is 0.1
    model, _ = load_bottlefit(tmp_path / "bf1")
    assert model.head(test.images[:4].float()).shape == (4, 1, 8, 8)
    assert accuracy(model, test) == pytest.approx(card["test_accuracy"], abs=1e-4)
    with pytest.raises(ConfigError, match="already holds a model"):
        train_bottlefit(cfg)
    with pytest.raises(CheckpointError, match="not a BottleFit"):
        load_bottlefit(digits_backbone)


def test_kd_loss_is_cross_entropy_at_alpha_one_and_zero_for_a_perfect_copy():
    from phydnn.training.bottlefit import kd_loss
    logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert kd_loss(logits, logits + 3.0, y, 1.0, 4.0) == pytest.approx(float(ce))
    assert kd_loss(logits, logits, y, 0.0, 4.0) == pytest.approx(0.0, abs=1e-6)

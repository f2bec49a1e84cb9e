"""qa for the bench: the per-batch latency log of the real-time loopback flowgraph, the RX
chain against GNU Radio's stock packet receiver, and a quick run of ``phydnn bench``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4")


def test_real_time_loopback_logs_every_batch_and_its_air_takes_the_airtime():
    """4 batches of 64 images, spaced 300 ms, air paced to 20 MS/s: every batch has every
    stage; the time on air is at least its airtime; the end to end holds head, air and tail."""
    from phydnn.bench.latency import loopback_latency

    res = loopback_latency(MODEL, batches=4, interval_ms=300)
    assert res["batches"] == 4 and res["summary"]["images"] == 256
    for row in res["rows"]:
        assert row["air_measured"] >= 0.95 * row["airtime"] > 0
        assert row["end_to_end"] >= row["head"] + row["air_measured"] + row["tail"]
        assert row["mapping"] > 0 and row["head"] > 0 and row["tail"] > 0


def test_rx_chains_deliver_what_was_sent():
    """The throughput harness decodes what it times: every gr-phydnn segment, and at least
    half of the stock receiver's packets (its corr_est misses some, DESIGN.md pitfalls)."""
    from phydnn.bench.throughput import phydnn_rx, record_phydnn, stock_packet_rx
    from phydnn.link.segment import DEFAULT_MAX_PAYLOAD, segment_layout

    samples, segments = record_phydnn(MODEL, 128)
    ours = phydnn_rx(samples, MODEL, segments)
    per_batch = segment_layout(64 * 784, DEFAULT_MAX_PAYLOAD)[0]
    assert ours.units == segments == 2 * per_batch and ours.rate > 0
    stock = stock_packet_rx(ROOT / "build" / "stock_packet", 200)
    assert 100 <= stock.units <= 200 and stock.rate > 0


@pytest.mark.slow
def test_bench_quick_writes_every_table_and_figure(tmp_path):
    from phydnn.cli.__main__ import main

    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["targets"]) == 3 and len(res["figures"]) == 7
    jvs = res["joint_vs_separate"]["budgets"]
    assert set(jvs) >= {"784", "196"}
    assert all("separation" in b["codecs"] and "PhyDNN" in b["codecs"] for b in jvs.values())
    names = " ".join(r["approach"] for r in res["energy"])
    for approach in ("kd14ctx_m4", "dtjscc", "separation_s784", "separation_s196", "SC",
                     "BF-1", "BF-2"):
        assert approach in names, approach
    assert all(r["total_mj"] > r["radio_mj"] > 0 for r in res["energy"])
    assert all((tmp_path / Path(f).name).stat().st_size > 10_000 for f in res["figures"])
    report = (tmp_path / "report.md").read_text()
    for section in ("Latency", "Bytes", "Accuracy", "Rate vs accuracy", "throughput",
                    "complexity", "Joint against separate coding", "Device energy",
                    "VFE / VL-VFE beside DeepJSCC", "Multi-exit encoder under a compute"):
        assert section in report
    vfe = res["vfe"]
    assert {"fmnist_vfe", "fmnist_vlvfe", "fmnist_vfe_deepjscc31",
            "fmnist_vfe_quant_s15"} <= set(vfe["curves"])
    assert set(vfe["feedback"]) >= {"genie", "pilots", "fixed"} and vfe["reference"]
    budget = res["budget"]
    assert len(budget["curves"]["rows"]) == 3 and len(budget["loopback"]) == 3
    assert {"fmnist_toc", "fmnist_resnet20_phydnn_kd14ctx_m4"} <= set(budget["static"])
    spent = [r["realised_macs"] for r in budget["curves"]["rows"]]
    assert spent == sorted(spent)
    names = {b["name"] for b in res["baselines"]}
    assert names == {"SC", "BF-1", "BF-2"}

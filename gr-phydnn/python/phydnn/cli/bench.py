"""``phydnn bench``: reproduce paper 003's evaluation on this machine in one run.

Writes OUT/results.json, OUT/report.md (every table) and PNG figures (latency breakdown,
bytes per batch, accuracy vs SNR, RX throughput); prints each target with its measured value.
Needs the shipped models, including the BottleFit baselines ('phydnn bottlefit').
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency, bytes, throughput and baselines (paper Fig. 6)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/bench", help="results folder (default: %(default)s)")
    p.add_argument("--model", help="PhyDNN bundle (default: the shipped M=4 model)")
    p.add_argument("--wifi-rate", type=int, default=0,
                   help="802.11a rate in Mb/s for the baselines (default: the rate usable "
                        "at the link's SNR; 54 is always reported too)")
    p.add_argument("--snr", type=float, default=12.0, help="Es/N0 in dB (default: 12)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes everywhere (a smoke run of a minute or two)")


def run(args: argparse.Namespace) -> int:
    from phydnn.bench.run import BenchConfig, run_bench

    cfg = BenchConfig(out=args.out, wifi_rate=args.wifi_rate, snr_db=args.snr)
    if args.model:
        cfg.model = args.model
    if args.quick:
        cfg.latency_batches = cfg.baseline_batches = 4
        cfg.torch_images, cfg.loopback_images, cfg.throughput_images = 500, 256, 256
        cfg.stock_packets = 100
        cfg.table3_images = 256
        cfg.torch_snrs, cfg.loopback_snrs = (4.0, 12.0), (12.0,)
        cfg.jvs_snrs, cfg.jvs_loopback_snrs, cfg.jvs_draws = (2.0, 8.0), (8.0,), 2
        cfg.budget_snrs, cfg.budget_points, cfg.budget_loopback_images = (0.0, 12.0), 3, 128
    res = run_bench(cfg)
    print(f"\nresults in {cfg.out}/ (report.md, results.json, "
          f"{len(res['figures'])} figures) after {res['total_seconds']:.0f} s")
    for t in res["targets"]:
        print(f"  {'met ' if t['met'] else 'MISS'}  {t['target']}: {t['value']:.2f} "
              f"(target {t['bound']})")
    return 0

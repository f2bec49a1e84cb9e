"""``phydnn bench``: paper 003's evaluation (Sec. IV-C: Fig. 6, Fig. 10, Table II) on this
machine, in one run, written to a results folder (JSON, CSV, PNG, a Markdown report).

Steps, each timed and shown as it runs:
1. latency of a batch of 64 images on the real loopback flowgraph (real-time air at the
   sample rate; per-batch timestamps) next to the sum of its measured parts;
2. bytes on air per batch, payload and framing apart, next to the paper's 16 KB;
3. the full-stack baselines (SC, BF-1, BF-2) over a real TCP socket on 127.0.0.1, their
   segments turned into 802.11a airtime;
4. receive-chain throughput against GNU Radio's stock packet receiver and the bare chain;
5. accuracy vs SNR (torch simulation and GNU Radio loopback, hard and soft, unsplit line)
   and rate vs accuracy for every M on the pruning path (Table II);
6. head / tail parameters and MACs next to paper 003 Table III;
7. Table III itself: PhyDNN beside DT-JSCC on the same PHY (device parameters and MACs,
   bytes per batch, head compute time, accuracy on the simulated link and the loopback);
8. joint against separate coding at equal channel uses per image (PhyDNN, DT-JSCC where a
   bundle of that budget exists, the separation baseline with gr-fec), torch and loopback,
   and the crossing points (:mod:`phydnn.bench.separation`);
9. the device's energy per batch, compute and radio, for every approach
   (:mod:`phydnn.bench.energy`, each constant's source named there).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from phydnn.bench.codecs import codec_table
from phydnn.checkpoint import bundle_paths, load_card
from phydnn.errors import CheckpointError, ConfigError, check_positive

__all__ = ["BenchConfig", "run_bench"]

ROOT = Path(__file__).resolve().parents[4]
MODELS = ROOT / "models"


@dataclass
class BenchConfig:
    """Settings of ``phydnn bench``."""

    model: str = str(MODELS / "fmnist_resnet20_phydnn_kd14ctx_m4")
    backbone: str = str(MODELS / "fmnist_resnet20")
    bottlefit: tuple[str, ...] = (str(MODELS / "fmnist_resnet20_bottlefit_w1"),
                                  str(MODELS / "fmnist_resnet20_bottlefit_w2"))
    rate_models: tuple[str, ...] = ("fmnist_resnet20_phydnn_kd14",      # bundle prefixes in
                                    "fmnist_resnet20_phydnn_kd14ctx",  # models/ (Table II)
                                    "fmnist_resnet20_phydnn_kd14m2",
                                    "fmnist_resnet20_phydnn_stage2kdctx",
                                    "fmnist_resnet20_phydnn_stage2kd",
                                    "fmnist_resnet20_phydnn_stage2")
    table3: tuple[str, ...] = (str(MODELS / "fmnist_dtjscc"),)   # codecs beside ``model``
    table3_images: int = 2000
    # joint vs separate coding: grouped by the symbols per image their cards state
    jvs_models: tuple[str, ...] = (str(MODELS / "fmnist_resnet20_phydnn_kd14ctx_m4"),
                                   str(MODELS / "fmnist_resnet20_phydnn_stage2kdctx_m16"),
                                   str(MODELS / "fmnist_separation_s784"),
                                   str(MODELS / "fmnist_separation_s196"))
    jvs_optional: tuple[str, ...] = (str(MODELS / "fmnist_dtjscc_c784"),   # DT-JSCC at the
                                     str(MODELS / "fmnist_dtjscc_c196"))   # budgets, if made
    jvs_snrs: tuple[float, ...] = tuple(float(s) for s in range(-10, 21, 2))
    jvs_loopback_snrs: tuple[float, ...] = tuple(float(s) for s in range(0, 21, 2))
    jvs_draws: int = 5               # noise draws of the torch link around each crossing
    # VFE / VL-VFE (paper 000) beside DeepJSCC of the same network, if made
    vfe_models: tuple[str, ...] = (str(MODELS / "fmnist_vfe"), str(MODELS / "fmnist_vlvfe"),
                                   str(MODELS / "fmnist_vfe_deepjscc31"),
                                   str(MODELS / "fmnist_vfe_quant_s15"),
                                   str(MODELS / "fmnist_vfe_deepjscc36"))
    vfe_reference: str = str(MODELS / "fmnist_vfe_nochannel")
    vfe_snrs: tuple[float, ...] = (10.0, 15.0, 20.0, 25.0)
    # the multi-exit encoder of paper 002 under compute budgets, beside static encoders
    budget_model: str = str(MODELS / "fmnist_multiexit20")
    budget_static: tuple[str, ...] = (str(MODELS / "fmnist_toc"),
                                      str(MODELS / "fmnist_resnet20_phydnn_kd14ctx_m4"),
                                      str(MODELS / "fmnist_dtjscc"))
    budget_snrs: tuple[float, ...] = (0.0, 6.0, 12.0, 18.0)
    budget_points: int = 6           # budgets from exit 1's cost to the last exit's
    budget_loopback_images: int = 1000     # each budget through the loopback at 12 dB
    out: str = "results/bench"
    latency_batches: int = 20
    interval_ms: float = 400.0
    baseline_batches: int = 20
    wifi_rate: int = 0                 # 0: the rate 802.11a would use at snr_db
    snr_db: float = 12.0
    samp_rate: float = 20e6
    torch_snrs: tuple[float, ...] = tuple(float(s) for s in range(0, 21, 2))
    loopback_snrs: tuple[float, ...] = (0.0, 4.0, 8.0, 12.0, 16.0, 20.0)
    loopback_images: int = 1000
    torch_images: int = 10000
    throughput_images: int = 1280
    stock_packets: int = 750      # about as many samples as 1280 images

    def check(self) -> None:
        for name in ("latency_batches", "baseline_batches", "loopback_images", "torch_images",
                     "throughput_images", "stock_packets", "table3_images", "jvs_draws",
                     "budget_points"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("samp_rate", self.samp_rate)
        for path in (self.model, self.backbone, *self.bottlefit, *self.table3,
                     *self.jvs_models):
            if not bundle_paths(path)[1].exists():
                how = ("phydnn bottlefit --width N --out " + path) if "bottlefit" in path \
                    else ("phydnn train-codec --codec dtjscc --out " + path) \
                    if "jscc" in path else "phydnn train-separation" \
                    if "separation" in path else "phydnn train / phydnn pretrain"
                raise CheckpointError(f"no model at {path}; make it with '{how}'")
        from phydnn.fullstack.wifi import N_DBPS
        if self.wifi_rate and self.wifi_rate not in N_DBPS:
            raise ConfigError(f"wifi_rate={self.wifi_rate} is not allowed; 802.11a rates are "
                              f"{', '.join(map(str, N_DBPS))} Mb/s (0: chosen from the SNR)")


class _Steps:
    """Numbered steps with their wall time, printed as they start and end."""

    def __init__(self, total: int) -> None:
        self.total, self.i, self.t_start = total, 0, time.perf_counter()
        self.times: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        self.i += 1
        print(f"[{self.i}/{self.total}] {name} ...", flush=True)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.times[name] = time.perf_counter() - t0
        print(f"[{self.i}/{self.total}] {name}: {self.times[name]:.0f} s "
              f"(total {time.perf_counter() - self.t_start:.0f} s)", flush=True)
        return out


def _phydnn_bytes(card: dict[str, Any], latency: dict[str, Any], sps: int = 2) -> dict:
    """Payload and framing bytes of one batch of 64 images, from the measured symbols."""
    bits = int(card["bits_per_image"]) * 64
    symbols = latency["median_s"]["airtime"] * latency["samp_rate"] / sps
    total_bits = symbols * math.log2(int(card["M"]))
    return {"payload": bits / 8, "framing": max(total_bits - bits, 0) / 8,
            "symbols_on_air": symbols, "payload_symbols": card["positions_per_image"] * 64}


def _baselines(cfg: BenchConfig, rate: int) -> list[dict[str, Any]]:
    from phydnn.data import load_dataset
    from phydnn.fullstack.baselines import Baseline, run_baseline
    from phydnn.fullstack.wifi import WifiAirtime
    from phydnn.models import load_backbone
    from phydnn.training.bottlefit import load_bottlefit

    net, card = load_backbone(cfg.backbone)
    test = load_dataset(card["dataset"], "test")
    head, tail = net.split("stem")
    models = [Baseline("SC", head, tail)]
    for path in cfg.bottlefit:
        bf, bcard = load_bottlefit(path)
        models.append(Baseline(f"BF-{bcard['width']}", bf.head, bf.tail))
    out = []
    for b in models:
        for r in sorted({rate, 54}):
            res = run_baseline(b, test, 64, cfg.baseline_batches, WifiAirtime(r))
            row = {k: v for k, v in asdict(res).items() if k != "transfers"}
            row["end_to_end_s"] = res.end_to_end_s
            out.append(row)
    return out


def _torch_accuracy(cfg: BenchConfig) -> dict[str, Any]:
    from phydnn.data import load_dataset
    from phydnn.models import load_backbone, load_phydnn
    from phydnn.training import accuracy, link_accuracy

    net, card = load_phydnn(cfg.model)
    test = load_dataset(card["dataset"], "test").subset(cfg.torch_images)
    backbone, _ = load_backbone(cfg.backbone)
    return {"table": link_accuracy(net, test, list(cfg.torch_snrs)),
            "unsplit": accuracy(backbone, test), "M": card["M"], "dataset": card["dataset"],
            "images": len(test)}


def _rate_table(cfg: BenchConfig) -> list[dict[str, Any]]:
    """Table II: bytes per image and accuracy at ``snr_db`` for every M on the pruning path
    of each model family in ``cfg.rate_models`` (both split points by default)."""
    from phydnn.data import load_dataset
    from phydnn.models import load_phydnn
    from phydnn.training import link_accuracy

    test = None
    rows = []
    for prefix in cfg.rate_models:
        for path in sorted(MODELS.glob(f"{prefix}_m*.json"),
                           key=lambda p: -int(p.stem.rsplit("_m", 1)[1])):
            net, card = load_phydnn(path.with_suffix(""))
            if test is None:
                test = load_dataset(card["dataset"], "test").subset(cfg.torch_images)
            acc = link_accuracy(net, test, [cfg.snr_db])[f"{cfg.snr_db:.1f}"]
            rows.append({"model": path.stem, "split": card["split"], "M": card["M"],
                         "bytes_per_image": card["bytes_per_image"],
                         "bytes_per_64": card["bytes_per_image"] * 64,
                         "hard": acc["hard"], "soft": acc["soft"]})
    return rows


def _complexity(cfg: BenchConfig) -> list[dict[str, Any]]:
    """Head / tail params and MACs: the shipped model, and ResNet-56 on CIFAR-10 (32x32)
    split after stage 1 as in paper 003 Table III (architecture only, no weights)."""
    from phydnn.models import build_backbone, load_phydnn, split_complexity

    net, card = load_phydnn(cfg.model)
    ours = split_complexity(net.head, net.tail, tuple(card["input_shape"]))
    r56 = build_backbone("resnet56", 3, 10)
    head, tail = r56.split("stage1")
    paper = split_complexity(head, tail, (3, 32, 32))
    return [
        {"model": f"{card['backbone']} {card['dataset']} (shipped)", "head_params":
         ours["head"].params, "head_macs": ours["head"].macs, "tail_params":
         ours["tail"].params, "tail_macs": ours["tail"].macs},
        {"model": "resnet56 CIFAR-10 32x32 (this code)", "head_params": paper["head"].params,
         "head_macs": paper["head"].macs, "tail_params": paper["tail"].params,
         "tail_macs": paper["tail"].macs},
        {"model": "paper 003 Table III (ResNet-56 PhyDNN head)", "head_params": 42_500,
         "head_macs": 291_650_000, "tail_params": None, "tail_macs": None}]


def _throughput(cfg: BenchConfig, build: Path) -> list[dict[str, Any]]:
    """Measured in a fresh process (no torch threads of the earlier steps around)."""
    import subprocess
    import sys

    from phydnn.errors import PhyDNNError

    proc = subprocess.run([sys.executable, "-m", "phydnn.bench.throughput", cfg.model,
                           str(cfg.throughput_images), str(cfg.stock_packets), str(build),
                           str(cfg.snr_db)], capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("THROUGHPUT ")]
    if proc.returncode != 0 or not lines:
        raise PhyDNNError(f"the throughput measurement failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("THROUGHPUT "):])


def _jvs(cfg: BenchConfig) -> dict[str, Any]:
    from phydnn.bench.separation import group_by_budget, joint_vs_separate

    present = [p for p in cfg.jvs_optional if bundle_paths(p)[1].exists()]
    return joint_vs_separate(group_by_budget([*cfg.jvs_models, *present]), list(cfg.jvs_snrs),
                             cfg.torch_images, cfg.loopback_images,
                             list(cfg.jvs_loopback_snrs), cfg.jvs_draws)


def _vfe(cfg: BenchConfig) -> dict[str, Any] | None:
    """Paper 000's systems beside DeepJSCC (:mod:`phydnn.bench.adaptive`), torch path, 3
    noise draws; None when none of the models is made."""
    from phydnn.bench.adaptive import adaptive_curves, feedback_curves, noise_free_accuracy

    present = {Path(p).name: p for p in cfg.vfe_models if bundle_paths(p)[1].exists()}
    if not present:
        return None
    snrs = list(cfg.vfe_snrs)
    variable = [p for p in present.values() if load_card(p).get("arch", {}).get("variable")]
    return {"curves": adaptive_curves(present, snrs, cfg.torch_images),
            "feedback": feedback_curves(variable[0], snrs, cfg.torch_images)
            if variable else None,
            "reference": {Path(cfg.vfe_reference).name: noise_free_accuracy(
                cfg.vfe_reference, cfg.torch_images)}
            if bundle_paths(cfg.vfe_reference)[1].exists() else {}}


def _budget(cfg: BenchConfig) -> dict[str, Any] | None:
    """Paper 002's multi-exit encoder under budgets beside static encoders
    (:mod:`phydnn.bench.budget`), torch path over 3 noise draws, and each budget through the
    loopback at ``snr_db``; None when the multi-exit model is not made."""
    import numpy as np

    from phydnn.bench.budget import budget_curves, budget_loopback, static_curves

    if not bundle_paths(cfg.budget_model)[1].exists():
        return None
    costs = load_card(cfg.budget_model)["exit_macs"]
    budgets = [float(b) for b in np.linspace(costs[0], costs[-1], cfg.budget_points)]
    snrs = list(cfg.budget_snrs)
    static = {Path(p).name: p for p in cfg.budget_static if bundle_paths(p)[1].exists()}
    return {"curves": budget_curves(cfg.budget_model, budgets, snrs, cfg.torch_images),
            "static": static_curves(static, snrs, cfg.torch_images),
            "loopback": budget_loopback(cfg.budget_model, budgets, cfg.snr_db,
                                        cfg.budget_loopback_images)}


def _energy(cfg: BenchConfig, baselines: list[dict[str, Any]],
            jvs: dict[str, Any]) -> list[dict[str, Any]]:
    """The device's energy per batch of 64 for every approach of the bench."""
    from phydnn.bench.energy import batch_airtime_s, energy_row
    from phydnn.link import TxHead
    from phydnn.link.payload import link_pilot_spacing
    from phydnn.models import count_macs, load_backbone
    from phydnn.training.bottlefit import load_bottlefit

    rows, seen = [], set()
    phy = [cfg.model, *cfg.table3, *(r["model"] for b in jvs.get("budgets", {}).values()
                                     for r in b["codecs"].values())]
    for path in phy:
        if path in seen:
            continue
        seen.add(path)
        tx = TxHead(path)
        card = load_card(path)
        symbols = int(card.get("symbols_per_image", card.get("positions_per_image", 0)))
        spec = tx.spec
        pilots = link_pilot_spacing(spec.kind, spec.bits_per_symbol, spec.pilot_spacing)
        rows.append(energy_row(f"{Path(path).name} ({symbols} symbols/image)",
                               tx.side.complexity()[1],
                               batch_airtime_s(symbols, samp_rate=cfg.samp_rate,
                                               pilot_spacing=pilots)))
    net, card = load_backbone(cfg.backbone)
    shape = tuple(card["input_shape"])
    heads = {"SC": net.split("stem")[0]}
    for path in cfg.bottlefit:
        bf, bcard = load_bottlefit(path)
        heads[f"BF-{bcard['width']}"] = bf.head
    for b in baselines:
        macs = count_macs(heads[b["name"]], shape)[0] if b["name"] in heads else 0
        rows.append(energy_row(f"{b['name']} (TCP, 802.11a {b['rate_mbps']} Mb/s)", macs,
                               b["airtime_s"]))
    return rows


def _inference(cfg: BenchConfig) -> dict[str, Any]:
    from phydnn.bench.inference import best_backends, measure_backends

    rows = measure_backends(cfg.model, cfg.torch_images)
    return {"rows": rows, "best": best_backends(rows)}


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run every measurement; write results into ``cfg.out``; returns the results dict."""
    from phydnn.bench.latency import loopback_accuracy, loopback_latency
    from phydnn.bench.plots import plot_all
    from phydnn.bench.report import targets, write_report
    from phydnn.fullstack.wifi import rate_for_snr

    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(cfg.model)
    rate = cfg.wifi_rate or rate_for_snr(cfg.snr_db)
    steps = _Steps(13)
    latency = steps.run("latency on the loopback flowgraph (real-time air)", loopback_latency,
                        cfg.model, cfg.latency_batches, cfg.interval_ms, cfg.snr_db,
                        cfg.samp_rate)
    latency["samp_rate"] = cfg.samp_rate
    baselines = steps.run("full-stack baselines over TCP on 127.0.0.1", _baselines, cfg, rate)
    throughput = steps.run("receive-chain throughput", _throughput, cfg,
                           ROOT / "build" / "stock_packet")
    torch_acc = steps.run("accuracy vs SNR, torch simulation", _torch_accuracy, cfg)
    loop_acc = steps.run("accuracy vs SNR, GNU Radio loopback", loopback_accuracy, cfg.model,
                         list(cfg.loopback_snrs), cfg.loopback_images)
    rate_rows = steps.run("rate vs accuracy for every M (Table II)", _rate_table, cfg)
    complexity = steps.run("parameters and MACs (Table III)", _complexity, cfg)
    table3 = steps.run("PhyDNN beside DT-JSCC (Table III)", codec_table,
                       [cfg.model, *cfg.table3], cfg.snr_db, cfg.table3_images)
    jvs = steps.run("joint vs separate coding at equal channel uses", _jvs, cfg)
    energy = steps.run("device energy per batch", _energy, cfg, baselines, jvs)
    vfe = steps.run("VFE / VL-VFE beside DeepJSCC (paper 000)", _vfe, cfg)
    budget = steps.run("multi-exit encoder under compute budgets (paper 002)", _budget, cfg)
    inference = steps.run("head and tail inference by backend", _inference, cfg)
    res = {
        "config": asdict(cfg), "model": cfg.model, "wifi_rate_mbps": rate,
        "phydnn_latency": {k: v for k, v in latency.items() if k != "rows"},
        "phydnn_latency_rows": latency["rows"],
        "phydnn_bytes": _phydnn_bytes(card, latency),
        "baselines": baselines, "throughput": throughput,
        "accuracy_vs_snr": {"torch": torch_acc["table"], "loopback": loop_acc,
                            "unsplit": torch_acc["unsplit"], "M": torch_acc["M"],
                            "dataset": torch_acc["dataset"], "torch_images": torch_acc["images"],
                            "loopback_images": cfg.loopback_images},
        "rate_table": rate_rows, "complexity": complexity, "table3": table3,
        "joint_vs_separate": jvs, "energy": energy, "vfe": vfe,
        "budget": budget, "inference": inference,
        "machine": f"{torch.get_num_threads()} CPU threads", "step_seconds": steps.times,
    }
    res["targets"] = targets(res)
    # the measurements first: a figure that fails to draw must not lose a 30-minute run
    (out / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    res["figures"] = [str(p) for p in plot_all(res, out)]
    res["total_seconds"] = time.perf_counter() - steps.t_start
    (out / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    write_report(res, out)
    return res

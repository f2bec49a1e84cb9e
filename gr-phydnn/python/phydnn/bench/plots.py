"""The bench's figures (matplotlib, Agg): latency breakdown, bytes per batch, accuracy vs SNR,
PHY throughput. Each takes the results dict of :func:`phydnn.bench.run.run_bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_all", "plot_joint_vs_separate"]

PART_COLOURS = {"head": "#4c72b0", "mapping": "#8172b2", "airtime": "#dd8452",
                "rx_dsp": "#937860", "tail": "#55a868"}


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _latency(res: dict[str, Any], path: Path) -> None:
    rows = [("PhyDNN\n(loopback, measured)", res["phydnn_latency"]["median_s"])]
    for b in res["baselines"]:
        rows.append((f"{b['name']}\n(TCP + 802.11a {b['rate_mbps']} Mb/s)",
                     {"head": b["head_s"], "airtime": b["airtime_s"], "tail": b["tail_s"]}))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (_label, parts) in enumerate(rows):
        left = 0.0
        for part, colour in PART_COLOURS.items():
            v = parts.get(part, 0.0) * 1e3
            ax.barh(i, v, left=left, color=colour, label=part.replace("_", " ") if i == 0
                    or part not in rows[0][1] else None)
            left += v
        if i == 0:
            e2e = parts["end_to_end"] * 1e3
            ax.plot([e2e], [i], "k|", markersize=22, label="end to end (measured)")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency of a batch of 64 images (ms, log scale)")
    ax.set_title("Latency breakdown per batch (paper 003 Fig. 6a-c)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    _save(fig, path)


def _bytes(res: dict[str, Any], path: Path) -> None:
    p = res["phydnn_bytes"]
    names = ["PhyDNN", *(b["name"] for b in res["baselines"]), "paper: PhyDNN\n(CIFAR, 64 img)"]
    payload = [p["payload"], *(b["payload_bytes"] for b in res["baselines"]), 16 * 1024]
    overhead = [p["framing"], *(b["overhead_bytes"] for b in res["baselines"]), 256]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = range(len(names))
    ax.bar(x, [v / 1024 for v in payload], color="#4c72b0", label="payload")
    ax.bar(x, [v / 1024 for v in overhead], bottom=[v / 1024 for v in payload],
           color="#c44e52", label="overhead (preamble + header / TCP/IP headers)")
    ax.set_xticks(list(x), names, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("KiB per batch of 64 images (log scale)")
    ax.set_title("Bytes on air per batch (paper 003 Fig. 6d)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    _save(fig, path)


def _accuracy(res: dict[str, Any], path: Path) -> None:
    acc = res["accuracy_vs_snr"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for source, style in (("torch", "-"), ("loopback", "--")):
        table = acc[source]
        snrs = sorted(float(s) for s in table)
        for receiver, marker in (("hard", "o"), ("soft", "s")):
            ax.plot(snrs, [table[f"{s:.1f}"][receiver] * 100 for s in snrs], style,
                    marker=marker, label=f"PhyDNN M={acc['M']} {receiver} ({source})")
    ax.axhline(acc["unsplit"] * 100, color="k", lw=1, label="unsplit backbone")
    ax.set_xlabel("Es/N0 (dB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy vs SNR, {acc['dataset']} (paper 003 Fig. 10)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def _throughput(res: dict[str, Any], path: Path) -> None:
    rows = res["throughput"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = [r["name"] for r in rows]
    ax.barh(range(len(rows)), [r["rate"] / 1e6 for r in rows], color="#4c72b0")
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(20, color="#c44e52", lw=1, ls="--", label="20 MS/s (B210 setting)")
    ax.set_xlabel("samples (bare chain: symbols) per second, millions")
    ax.set_title("Receive-chain throughput, no throttle")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


CODEC_COLOURS = {"PhyDNN": "#4c72b0", "DT-JSCC": "#55a868", "separation": "#c44e52"}


def plot_joint_vs_separate(jvs: dict[str, Any], path: Path, unsplit: float | None = None
                           ) -> None:
    """One panel per channel-use budget: accuracy vs Es/N0 of each codec, torch (lines) and
    GNU Radio loopback (markers), the crossing points dotted."""
    budgets = jvs["budgets"]
    fig, axes = plt.subplots(1, len(budgets), figsize=(6.5 * len(budgets), 4.6), sharey=True,
                             squeeze=False)
    for ax, (budget, entry) in zip(axes[0], budgets.items(), strict=True):
        for name, row in entry["codecs"].items():
            colour = CODEC_COLOURS.get(name)
            n_loop = jvs.get("loopback_images")
            for source, style, marker, label in (
                    ("torch", "-", "", f"{name} (torch, {jvs['torch_images']} images)"),
                    ("torch_same_images", ":", "", f"{name} (torch, the first {n_loop})"),
                    ("loopback", "none", "o", f"{name} (GNU Radio, the first {n_loop})")):
                curve = row.get(source)
                if not curve:
                    continue
                xs = sorted(float(s) for s in curve)
                ax.plot(xs, [curve[f"{x:.1f}"] * 100 for x in xs], linestyle=style,
                        marker=marker, mfc="none", color=colour, label=label,
                        lw=1.0 if source == "torch_same_images" else 1.5)
        for i, (name, cross) in enumerate(entry["crossings"].items()):
            c = cross.get("torch", {})
            if c.get("kind") == "cross":
                ax.axvline(c["snr_db"], color=CODEC_COLOURS.get(name), ls=":", lw=1)
                ax.annotate(f"{name} = separation at {c['snr_db']:.1f} dB",
                            (c["snr_db"] + 0.3, 58 - 7 * i), fontsize=7, ha="left",
                            color=CODEC_COLOURS.get(name))
        if unsplit is not None:
            ax.axhline(unsplit * 100, color="k", lw=0.8, label="unsplit backbone")
        ax.set_title(f"{budget} channel uses (symbols) per image")
        ax.set_xlabel("Es/N0 (dB)")
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.suptitle("Joint (PhyDNN, DT-JSCC) against separate coding (quantiser + gr-fec) at "
                 "equal channel uses")
    _save(fig, path)


def plot_all(res: dict[str, Any], out: Path) -> list[Path]:
    """Write every figure into ``out``; returns their paths."""
    figures = {"latency_breakdown.png": _latency, "bytes_per_batch.png": _bytes,
               "accuracy_vs_snr.png": _accuracy, "rx_throughput.png": _throughput}
    if res.get("joint_vs_separate"):
        figures["joint_vs_separate.png"] = lambda r, p: plot_joint_vs_separate(
            r["joint_vs_separate"], p, r["accuracy_vs_snr"]["unsplit"])
    if res.get("vfe"):
        from phydnn.bench.adaptive import plot_adaptive
        figures["vfe_accuracy_and_dimensions.png"] = lambda r, p: plot_adaptive(
            r["vfe"]["curves"], p, r["vfe"]["feedback"], r["vfe"]["reference"])
    if res.get("budget"):
        from phydnn.bench.budget import plot_budget
        figures["multiexit_budget.png"] = lambda r, p: plot_budget(
            r["budget"]["curves"], r["budget"]["static"], p)
    paths = []
    for name, draw in figures.items():
        draw(res, out / name)
        paths.append(out / name)
    return paths

"""The bench's targets (each printed with its measured value) and its Markdown report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["jvs_tables", "targets", "write_report"]


def _best_baseline(res: dict[str, Any], rate: int) -> dict[str, Any]:
    rows = [b for b in res["baselines"] if b["rate_mbps"] == rate]
    return min(rows, key=lambda b: b["airtime_s"])


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The bench's targets (issue 6's, the RX throughput's of issue 20): name, measured
    value, bound, met."""
    lat = res["phydnn_latency"]["median_s"]
    rate = res["wifi_rate_mbps"]
    best = _best_baseline(res, rate)
    comm = best["airtime_s"] / lat["airtime"]
    rx = res["throughput"][0]
    phydnn_rx = rx["rate"]
    stock = res["throughput"][1]["rate"]
    ratio = res["phydnn_latency"]["ratio_median"]
    ratio_p99 = res["phydnn_latency"].get("ratio_p99", float("nan"))
    lag = lat["rx_dsp"]
    lag_p99 = res["phydnn_latency"].get("p99_s", {}).get("rx_dsp", float("nan"))
    return [
        {"target": f"communication latency: best full-stack baseline ({best['name']}, "
                   f"802.11a {rate} Mb/s) / PhyDNN airtime", "value": comm, "bound": ">= 10",
         "met": comm >= 10.0},
        {"target": "RX throughput: gr-phydnn deframer / stock packet_rx", "value":
         phydnn_rx / stock, "bound": ">= 2.0", "met": phydnn_rx / stock >= 2.0},
        {"target": "RX throughput: gr-phydnn deframer, M samples/s, every segment decoded",
         "value": phydnn_rx / 1e6, "bound": ">= 20",
         "met": phydnn_rx >= 20e6 and rx["units"] == rx["expected"]},
        {"target": "loopback end to end / sum of measured parts (median over batches)",
         "value": ratio, "bound": "<= 1.10", "met": ratio <= 1.10},
        {"target": "loopback end to end / sum of measured parts (p99 over batches)",
         "value": ratio_p99, "bound": "<= 1.10", "met": ratio_p99 <= 1.10},
        {"target": "RX lag behind the air (RX DSP), median ms, real time at "
                   f"{res['config']['samp_rate'] / 1e6:g} MS/s", "value": lag * 1e3,
         "bound": "<= 2", "met": lag <= 2e-3},
        {"target": "RX lag behind the air (RX DSP), p99 ms", "value": lag_p99 * 1e3,
         "bound": "<= 5", "met": lag_p99 <= 5e-3},
        *inference_targets(res),
    ]


def inference_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 20's inference target, where the bench measured the backends."""
    best = res.get("inference", {}).get("best")
    if not best:
        return []
    return [{"target": f"head + tail per batch of 64: torch eager / fastest agreeing "
                       f"({best['head']} head, {best['tail']} tail)",
             "value": best["speedup"], "bound": ">= 1.5", "met": best["speedup"] >= 1.5}]


def _inference_table(res: dict[str, Any]) -> list[str]:
    """Head and tail by backend (phydnn.bench.inference)."""
    rows = res.get("inference", {}).get("rows")
    if not rows:
        return []
    lines = ["", "## Head and tail inference by backend (batch 64, round robin)", "",
             "| network | backend | median ms | p99 ms | set-up s | agrees with eager on |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['side']} | {r['backend']} | {r['median_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['setup_s']:.1f} | {r['agree'] * 100:.2f} % of "
                     f"{r['images']} |")
    return lines


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1e3:.2f}"


def _latency_table(res: dict[str, Any]) -> list[str]:
    lat = res["phydnn_latency"]["median_s"]
    lines = ["| approach | head | mapping | airtime | RX DSP | tail | sum of parts | "
             "end to end (measured) |", "|---|---|---|---|---|---|---|---|",
             f"| PhyDNN M={res['accuracy_vs_snr']['M']} (loopback, real-time air at "
             f"{res['config']['samp_rate'] / 1e6:g} MS/s, sps 2) | {_ms(lat['head'])} | "
             f"{_ms(lat['mapping'])} | {_ms(lat['airtime'])} | {_ms(lat['rx_dsp'])} | "
             f"{_ms(lat['tail'])} | {_ms(lat['sum_of_parts'])} | {_ms(lat['end_to_end'])} |"]
    p99 = res["phydnn_latency"].get("p99_s")
    if p99:
        lines.append(f"| PhyDNN, p99 over the batches | {_ms(p99['head'])} | "
                     f"{_ms(p99['mapping'])} | {_ms(p99['airtime'])} | {_ms(p99['rx_dsp'])} | "
                     f"{_ms(p99['tail'])} | {_ms(p99['sum_of_parts'])} | "
                     f"{_ms(p99['end_to_end'])} |")
    for b in res["baselines"]:
        lines.append(f"| {b['name']} (TCP, 802.11a {b['rate_mbps']} Mb/s) | {_ms(b['head_s'])} "
                     f"| - | {_ms(b['airtime_s'])} | - | {_ms(b['tail_s'])} | "
                     f"{_ms(b['end_to_end_s'])} | - |")
    return lines


def _bytes_table(res: dict[str, Any]) -> list[str]:
    p = res["phydnn_bytes"]
    rate = res["wifi_rate_mbps"]
    lines = ["| approach | payload (B) | overhead (B) | total (B) | accuracy on the images "
             "sent | payload vs PhyDNN |", "|---|---|---|---|---|---|",
             f"| PhyDNN (preamble + PHY header as overhead) | {p['payload']:.0f} | "
             f"{p['framing']:.0f} | {p['payload'] + p['framing']:.0f} | see below | 1x |"]
    for b in res["baselines"]:
        if b["rate_mbps"] != rate:
            continue
        lines.append(f"| {b['name']} (IP/TCP headers as overhead, {b['data_segments']} data "
                     f"+ {b['ack_segments']} ACK segments) | {b['payload_bytes']} | "
                     f"{b['overhead_bytes']} | {b['payload_bytes'] + b['overhead_bytes']} | "
                     f"{b['accuracy'] * 100:.2f} % | {b['payload_bytes'] / p['payload']:.1f}x |")
    lines.append("| paper 003: PhyDNN, 64 CIFAR-10 images | 16384 | 256 | 16640 | - | - |")
    return lines


def _accuracy_table(res: dict[str, Any]) -> list[str]:
    acc = res["accuracy_vs_snr"]
    snrs = sorted(set(acc["torch"]) | set(acc["loopback"]), key=float)
    lines = ["| Es/N0 (dB) | torch hard | torch soft | loopback hard | loopback soft | "
             "loopback segments delivered |", "|---|---|---|---|---|---|"]

    def pct(table: dict, s: str, key: str) -> str:
        v = table.get(s, {}).get(key)
        return "-" if v is None else f"{v * 100:.2f} %"

    for s in snrs:
        d = acc["loopback"].get(s, {}).get("delivery")
        lines.append(f"| {float(s):g} | {pct(acc['torch'], s, 'hard')} | "
                     f"{pct(acc['torch'], s, 'soft')} | {pct(acc['loopback'], s, 'hard')} | "
                     f"{pct(acc['loopback'], s, 'soft')} | "
                     f"{'-' if d is None else f'{d:.1f} %'} |")
    return lines


def _table3(res: dict[str, Any]) -> list[str]:
    from phydnn.bench.codecs import PAPER_TABLE_III

    snr = res["config"]["snr_db"]
    lines = [f"## PhyDNN and DT-JSCC on the same PHY (Table III; {snr:g} dB, one run)", "",
             "| model | receiver | head params | head MACs | bytes / 64 images | head ms / 64 "
             "| simulated link | loopback (delivery) | simulated, 10k images |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["table3"]:
        lines.append(f"| {r['model']} | {r['receiver']} | {r['head_params']:,} | "
                     f"{r['head_macs'] / 1e6:.2f} M | {r['bytes_per_64']:,.0f} | "
                     f"{r['head_ms']:.1f} | {r['torch'] * 100:.2f} % | {r['loopback'] * 100:.2f}"
                     f" % ({r['delivery']:.1f} %) | {r['torch_full'] * 100:.2f} % |")
    for r in PAPER_TABLE_III:
        lines.append(f"| {r['model']} | - | {r['head_params']:,} | {r['head_macs'] / 1e6:.2f} M"
                     f" | {r['bytes_per_64']:,} | - | - | {r['loopback'] * 100:.2f} % | - |")
    return lines


def jvs_tables(res: dict[str, Any]) -> list[str]:
    """Markdown: the joint-vs-separate curves per budget and the crossing points."""
    jvs = res.get("joint_vs_separate")
    if not jvs:
        return []
    lines = ["## Joint against separate coding at equal channel uses", "",
             f"Torch: {jvs['torch_images']} test images per point; GNU Radio loopback: the "
             f"first {jvs['loopback_images']} (demo offsets), soft receivers; the separation "
             f"baseline picks its mode (bits per feature, gr-fec code) from its rate table.",
             ""]
    for budget, entry in jvs["budgets"].items():
        names = list(entry["codecs"])
        snrs = sorted(set(jvs["snrs"]) | set(jvs["loopback_snrs"]))
        lines += [f"### {budget} channel uses (symbols) per image", "",
                  "| Es/N0 (dB) | " + " | ".join(f"{n} torch | {n} loopback" for n in names)
                  + " |", "|---|" + "---|---|" * len(names)]
        for s in snrs:
            k = f"{s:.1f}"
            cells = []
            for n in names:
                row = entry["codecs"][n]
                t, lo = row["torch"].get(k), row["loopback"].get(k)
                cells += ["-" if t is None else f"{t * 100:.2f} %",
                          "-" if lo is None else f"{lo * 100:.2f} %"]
            lines.append(f"| {s:g} | " + " | ".join(cells) + " |")
        lines.append("")
        for name, c in entry["crossings"].items():
            lines.append(f"- {name} against separation: " + "; ".join(
                f"{source}: {c[source]['text']}" for source in ("torch", "loopback")
                if source in c))
            for codec, by_snr in c.get("spread", {}).items():
                lines.append(f"  - {codec}, {len(next(iter(by_snr.values())))} noise draws: "
                             + "; ".join(f"{float(k):g} dB {min(v) * 100:.2f}-"
                                         f"{max(v) * 100:.2f} %" for k, v in by_snr.items()))
        gaps = ", ".join(f"{n} {v * 100:.2f}" for n, v in
                         entry["loopback_minus_torch_max"].items() if v is not None)
        if gaps:
            lines.append(f"- largest |loopback - torch| on the same images (points): {gaps}")
        beyond = entry.get("loopback_beyond_draws", {})
        if any(beyond.values()):
            lines.append("- loopback more than 1 point outside the torch path's noise draws on "
                         "the same images: " + "; ".join(
                             f"{n} at " + ", ".join(f"{float(k):g} dB ({v * 100:+.2f})"
                                                    for k, v in b.items())
                             for n, b in beyond.items() if b))
        elif beyond:
            lines.append("- the loopback lies within 1 point of the torch path's noise draws "
                         "on the same images at every Es/N0")
        lines.append("")
    return lines


def _energy_table(res: dict[str, Any]) -> list[str]:
    if not res.get("energy"):
        return []
    from phydnn.bench.energy import E_MAC_J, P_RADIO_W
    lines = ["## Device energy per batch of 64 images (model: phydnn.bench.energy)", "",
             f"e_MAC = {E_MAC_J * 1e12:.1f} pJ (Jetson Orin Nano GPU, 15 W mode, FP32 peak); "
             f"P_radio = {P_RADIO_W:.3f} W (Cui, Goldsmith & Bahai 2005 transmitter, 20 dBm "
             f"out).", "",
             "| approach | head MACs / image | airtime (ms) | compute (mJ) | radio (mJ) | "
             "total (mJ) |", "|---|---|---|---|---|---|"]
    for r in res["energy"]:
        lines.append(f"| {r['approach']} | {r['head_macs'] / 1e6:.2f} M | "
                     f"{r['airtime_ms']:.2f} | {r['compute_mj']:.2f} | {r['radio_mj']:.2f} | "
                     f"{r['total_mj']:.2f} |")
    return lines


def write_report(res: dict[str, Any], out: Path) -> Path:
    """``out/report.md``: every table, the targets and the figures."""
    acc = res["accuracy_vs_snr"]
    lines = [f"# gr-phydnn bench ({res['machine']}, {res['total_seconds']:.0f} s)", "",
             "## Targets", "", "| target | measured | bound | met |", "|---|---|---|---|"]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {t['value']:.2f} | {t['bound']} | "
                     f"{'yes' if t['met'] else 'NO'} |")
    lines += ["", "## Latency of a batch of 64 images (ms, medians)", "", *_latency_table(res),
              "", "## Bytes per batch of 64 images", "", *_bytes_table(res), "",
              f"## Accuracy vs Es/N0 ({acc['dataset']}, unsplit backbone "
              f"{acc['unsplit'] * 100:.2f} %; torch {acc['torch_images']} images, loopback "
              f"{acc['loopback_images']} images)", "", *_accuracy_table(res), "",
              "## Rate vs accuracy (Table II)", "",
              "| model | split | M | bytes/image | bytes/64 images | hard | soft |",
              "|---|---|---|---|---|---|---|"]
    for r in res["rate_table"]:
        lines.append(f"| {r['model']} | {r['split']} | {r['M']} | {r['bytes_per_image']:g} | "
                     f"{r['bytes_per_64']:g} | {r['hard'] * 100:.2f} % | "
                     f"{r['soft'] * 100:.2f} % |")
    lines += ["", "## Receive-chain throughput (no throttle)", "",
              "| chain | samples | seconds | M samples/s | units out |", "|---|---|---|---|---|"]
    for t in res["throughput"]:
        lines.append(f"| {t['name']} | {t['samples']} | {t['seconds']:.2f} | "
                     f"{t['rate'] / 1e6:.2f} | {t['units']} of {t['expected']} |")
    lines += _inference_table(res)
    lines += ["", "## Head and tail complexity (Table III)", "",
              "| model | head params | head MACs | tail params | tail MACs |",
              "|---|---|---|---|---|"]
    for c in res["complexity"]:
        lines.append(f"| {c['model']} | {c['head_params']} | {c['head_macs']} | "
                     f"{c['tail_params'] if c['tail_params'] is not None else '-'} | "
                     f"{c['tail_macs'] if c['tail_macs'] is not None else '-'} |")
    lines += ["", *_table3(res), "", *jvs_tables(res), *_energy_table(res)]
    if res.get("vfe"):
        from phydnn.bench.adaptive import adaptive_tables
        v = res["vfe"]
        lines += ["", "## VFE / VL-VFE beside DeepJSCC of the same network (paper 000, torch "
                  "path)", "", *adaptive_tables(v["curves"], v["feedback"], v["reference"])]
    if res.get("budget"):
        from phydnn.bench.budget import budget_tables
        b = res["budget"]
        lines += ["", "## Multi-exit encoder under a compute budget (paper 002)", "",
                  "Torch path, accuracy % [min, max] over 3 noise draws; realised MACs and head "
                  "time per image measured at the transmitter (real early exit); then each "
                  "budget through the GNU Radio loopback.", "",
                  *budget_tables(b["curves"], b["static"], b["loopback"])]
    lines += ["", *(f"![{Path(f).stem}]({Path(f).name})" for f in res["figures"]), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path

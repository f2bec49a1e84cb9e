"""Latency of a batch on the real loopback flowgraph, and the link's accuracy through it.

``flowgraphs/phydnn_loopback.grc`` is compiled with grcc and run as its own program with
real-time air (the channel simulator paces the samples to the sample rate, like a radio) and
batches spaced ``interval_ms`` apart, so each batch crosses an idle link. Every block marks
its stage of each batch (:mod:`phydnn.link.timeline`); the Tail RX writes the per-batch
breakdown, read back here.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from statistics import median

import numpy as np

from phydnn.errors import PhyDNNError
from phydnn.link.timeline import LATENCY_PARTS
from phydnn.programs import compile_flowgraph, parse_summary, run_flowgraph

__all__ = ["loopback_accuracy", "loopback_argv", "loopback_latency"]


def loopback_argv(model: str, images: int, snr_db: float, receiver: str, samp_rate: float,
                  **extra: object) -> list[str]:
    """The loopback program's options (``extra``: more, by name, e.g. feedback="pilots")."""
    argv = ["--model", model, "--n-images", str(images), "--snr-db", str(snr_db),
            "--receiver", receiver, "--samp-rate", str(samp_rate)]
    for key, value in extra.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    return argv


def loopback_latency(model: str, batches: int = 20, interval_ms: float = 400.0,
                     snr_db: float = 12.0, samp_rate: float = 20e6) -> dict[str, object]:
    """Median and 99th-percentile seconds of each part, their sum and the end to end, over
    ``batches`` batches of 64 images (a distribution: the link's tail matters as much as its
    middle); the ratio end to end / sum of parts likewise; every batch's row and the run's
    RX summary."""
    script = compile_flowgraph("phydnn_loopback")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "latency.csv"
        out = run_flowgraph(script, loopback_argv(model, batches * 64, snr_db, "soft", samp_rate,
                                          interval_ms=interval_ms, realtime=1,
                                          timing_log=log), timeout=300, echo=False)
        if not log.exists():
            raise PhyDNNError(f"the loopback wrote no latency log:\n{out[-2000:]}")
        with log.open() as f:
            rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if not rows:
        raise PhyDNNError("no batch completed every stage of the loopback")
    keys = (*LATENCY_PARTS, "sum_of_parts", "end_to_end", "air_measured", "air_lag")
    medians = {k: median(r[k] for r in rows) for k in keys}
    p99 = {k: float(np.percentile([r[k] for r in rows], 99)) for k in keys}
    ratios = [r["end_to_end"] / r["sum_of_parts"] for r in rows]
    return {"median_s": medians, "p99_s": p99, "ratio_median": median(ratios),
            "ratio_p99": float(np.percentile(ratios, 99)), "ratio_max": max(ratios),
            "batches": len(rows), "rows": rows, "summary": parse_summary(out)}


def loopback_accuracy(model: str, snrs_db: list[float], images: int,
                      receivers: tuple[str, ...] = ("hard", "soft")
                      ) -> dict[str, dict[str, float]]:
    """Accuracy (0-1) of the GNU Radio loopback per SNR and receiver, with the demo's
    offsets (1e-3 cycles/sample, 50 ppm, 0.37 sample), over all the images sent (those of
    batches never heard count as wrong); also the segment delivery (%)."""
    script = compile_flowgraph("phydnn_loopback")
    table: dict[str, dict[str, float]] = {}
    for snr in snrs_db:
        row = table.setdefault(f"{float(snr):.1f}", {})
        for receiver in receivers:
            out = run_flowgraph(script, loopback_argv(model, images, snr, receiver, 20e6),
                                timeout=300, echo=False)
            summary = parse_summary(out)
            # of all images sent: a batch never heard is an answer never given
            row[receiver] = summary.get("accuracy_all", summary.get("accuracy",
                                                                    float("nan"))) / 100
            row["delivery"] = summary.get("delivery", float("nan"))
    return table

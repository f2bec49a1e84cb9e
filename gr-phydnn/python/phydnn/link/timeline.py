"""Per-batch timestamps of the link's stages, and the latency breakdown they give.

DESIGN.md defines a batch's latency as head compute + symbol mapping + airtime + RX DSP +
tail compute, *measured*. The blocks of one process (the loopback flowgraph) mark their
stage of each batch here, keyed by the batch id that the PHY header carries from TX to RX:

    head_in, head_s        head_tx: batch arrived; seconds of head + embedding compute
    map_s, air_symbols     framer: seconds to build the segments' symbols; symbols on air
    air_start, air_end     channel simulator / radio: first and last sample of the batch on air
    air_lag                channel simulator: how late its last sample reached the receiver
    rx_last                tail_rx: the batch's last segment out of the deframer
    tail_s, done           tail_rx: seconds of lookup + tail compute; predictions out

Times are ``time.time()`` (one clock for every block of a process). The store keeps the
newest ``capacity`` batches so a long run does not grow it. No GNU Radio here.
"""

from __future__ import annotations

import csv
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["LATENCY_PARTS", "TIMELINE", "Timeline", "latency_breakdown", "write_latency_csv"]

LATENCY_PARTS = ("head", "mapping", "airtime", "rx_dsp", "tail")


class Timeline:
    """Thread-safe ``batch_id -> {event: value}`` with a bounded number of batches."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = int(capacity)
        self._rows: OrderedDict[int, dict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _row(self, batch_id: int) -> dict[str, float]:
        row = self._rows.get(batch_id)
        if row is None:
            row = self._rows[batch_id] = {}
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        return row

    def mark(self, batch_id: int, event: str, value: float, keep_first: bool = False) -> None:
        """Set ``event`` of a batch (``keep_first``: only if not set yet)."""
        with self._lock:
            row = self._row(int(batch_id))
            if not (keep_first and event in row):
                row[event] = float(value)

    def add(self, batch_id: int, event: str, value: float) -> None:
        """Accumulate ``value`` into ``event`` of a batch (seconds over several calls)."""
        with self._lock:
            row = self._row(int(batch_id))
            row[event] = row.get(event, 0.0) + float(value)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per batch, oldest first, with its ``batch_id``."""
        with self._lock:
            return [{"batch_id": b, **row} for b, row in self._rows.items()]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


TIMELINE = Timeline()


def latency_breakdown(row: dict[str, float], sps: int, samp_rate: float) -> dict[str, float]:
    """Seconds of each part of one batch's latency, their sum and the measured end to end.

    airtime = symbols on air x sps / sample rate (DESIGN.md); rx_dsp = from the batch's last
    sample on air to its last segment out of the deframer; end_to_end = from the batch's
    arrival at the head to its predictions; air_measured = first to last sample on air,
    air_lag = how late the last one reached the receiver (the simulated radio's release lag,
    inside rx_dsp). Missing events give NaN.
    """
    nan = float("nan")

    def get(key: str) -> float:
        return float(row.get(key, nan))

    parts = {"head": get("head_s"), "mapping": get("map_s"),
             "airtime": get("air_symbols") * sps / samp_rate,
             "rx_dsp": get("rx_last") - get("air_end"), "tail": get("tail_s")}
    return {**parts, "sum_of_parts": sum(parts.values()),
            "end_to_end": get("done") - get("head_in"),
            "air_measured": get("air_end") - get("air_start"), "air_lag": get("air_lag")}


def write_latency_csv(path: str | Path, sps: int, samp_rate: float,
                      timeline: Timeline = TIMELINE) -> Path:
    """One row per complete batch: its latency parts, their sum and the end to end (s)."""
    keys = (*LATENCY_PARTS, "sum_of_parts", "end_to_end", "air_measured", "air_lag")
    required = keys[:-1]     # air_lag: only the loopback's air clock knows it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["batch_id", *keys])
        for row in timeline.rows():
            parts = latency_breakdown(row, sps, samp_rate)
            if all(math.isfinite(parts[k]) for k in required):
                out.writerow([row["batch_id"], *(f"{parts[k]:.6f}" for k in keys)])
    return path

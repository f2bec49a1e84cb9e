"""Tables and plots of evaluation results (CSV, Markdown, PNG), shared by eval and bench.

Plots use matplotlib's Agg backend (no display needed) and always label axes with units.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["write_snr_csv", "plot_accuracy_vs_snr", "markdown_table", "payload_line"]


def payload_line(payload_bits: int, data_symbols: int, air_symbols: int, frame_symbols: int,
                 images: int = 0) -> str:
    """The summaries' line on what the payload cost on air: bytes (bit payloads), or data
    symbols and pilots (analog payloads: no bits to count); framing = preamble, header and
    padding, as a share of all symbols on air."""
    framing = frame_symbols - air_symbols

    def per(total: float) -> str:
        return f" ({total / images:.1f} per image)" if images else ""
    if payload_bits or not data_symbols:
        what = f"{payload_bits / 8:.0f} payload bytes" + per(payload_bits / 8)
    else:
        pilots = air_symbols - data_symbols
        what = (f"{data_symbols} analog symbols" + per(data_symbols)
                + f" + {pilots} pilots ({pilots / max(air_symbols, 1) * 100:.1f} %)")
    return (f"  payload on air    : {what}; framing {framing} of {frame_symbols} symbols "
            f"({framing / max(frame_symbols, 1) * 100:.1f} %)")


def write_snr_csv(path: Path, table: dict[str, dict[str, float]]) -> Path:
    """One row per SNR: snr_db, hard, soft (accuracies in [0, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    snrs = sorted(table, key=float)
    receivers = sorted({r for k in snrs for r in table[k]})
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["snr_db", *receivers])
        for k in snrs:
            w.writerow([k, *(f"{table[k][r]:.4f}" for r in receivers)])
    return path


def plot_accuracy_vs_snr(path: Path, curves: dict[str, dict[str, float]],
                         unsplit: float | None, title: str) -> Path:
    """Accuracy (%) vs Es/N0 (dB): one line per named curve, the unsplit model dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for label, points in curves.items():
        xs = sorted(points, key=float)
        ax.plot([float(x) for x in xs], [points[x] * 100 for x in xs], marker="o", ms=4,
                label=label)
    if unsplit is not None:
        ax.axhline(unsplit * 100, color="k", ls="--", lw=1, label=f"unsplit ({unsplit:.2%})")
    ax.set_xlabel("Es/N0 (dB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

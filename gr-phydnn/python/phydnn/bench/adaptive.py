"""Codecs whose payload length follows the channel (VFE / VL-VFE, paper 000) beside fixed ones:
accuracy vs Es/N0 with its spread over noise draws, the values (active dimensions) each
sends, the channel uses and the airtime per image, and VL-VFE's three kinds of channel
knowledge at the transmitter (paper 000 App. C):

- ``genie``: told the true Es/N0;
- ``pilots``: told an estimate from ``m`` known symbols per batch,
  sigma_hat^2 = sum |y - s|^2 / m (complex noise: sigma^2 chi^2(2m) / 2m, the App. C
  estimator for a complex channel); the GNU Radio loopback's is the receiver's own estimate
  from each segment's 1332 known header symbols, fed back over ZMQ;
- ``fixed``: never told (the codec's assumption, 10 dB: App. C's m = 0).

Torch path: :func:`phydnn.link.simulate.simulate_sides` (the payload mapping and AWGN at the
data symbols, what the loopback must match). Channel uses: complex data symbols per image
and real channel uses (two per complex symbol, the paper's count); pilots and framing apart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from phydnn.data import ImageDataset, load_dataset
from phydnn.link.payload import link_pilot_spacing, symbols_per_image
from phydnn.link.simulate import simulate_sides
from phydnn.phy.channel import snr_db_to_noise_var

__all__ = ["FEEDBACK", "adaptive_curves", "adaptive_tables", "feedback_curves",
           "loopback_curves", "noise_free_accuracy", "plot_adaptive"]

FEEDBACK = ("genie", "pilots", "fixed")


def _sides(model: str):
    from phydnn.link.endpoints import RxTail, TxHead
    return TxHead(model).side, RxTail(model).side


def _uses(tx, images: np.ndarray, samp_rate: float, sps: int) -> dict[str, float]:
    """Values, data symbols, real channel uses and airtime (with the pilots' share, framing
    apart) per image."""
    values = int(tx.encode(images[:1]).values.shape[1])
    sym = symbols_per_image(tx.spec, values)
    spacing = tx.spec.pilot_spacing or link_pilot_spacing(tx.spec.kind, tx.spec.bits_per_symbol)
    on_air = sym * (1 + 1 / spacing) if spacing else sym
    return {"values": values, "symbols": sym, "real_uses": 2 * sym,
            "airtime_us": on_air * sps / samp_rate * 1e6}


def adaptive_curves(models: dict[str, str], snrs: list[float], images: int = 10000,
                    draws: int = 3, samp_rate: float = 20e6, sps: int = 2) -> dict[str, Any]:
    """Per model (name -> bundle), per Es/N0 (the transmitter told it): accuracy over
    ``draws`` seeded noise draws (mean, min, max), values, symbols, real channel uses and
    airtime (data symbols and their pilots) per image."""
    out: dict[str, Any] = {}
    for name, model in models.items():
        tx, rx = _sides(model)
        test = load_dataset(tx.card["dataset"], "test").subset(images)
        rows = {}
        for snr in snrs:
            tx.adapt(float(snr))
            acc = [simulate_sides(tx, rx, test, snr, seed=d) for d in range(draws)]
            rows[f"{snr:.1f}"] = {"accuracy": float(np.mean(acc)), "min": min(acc),
                                  "max": max(acc),
                                  **_uses(tx, test.images.numpy(), samp_rate, sps)}
        out[name] = {"model": model, "curve": rows}
    return out


def noise_free_accuracy(model: str, images: int = 10000) -> float:
    """The network with no channel (values sent exactly): the uncompressed reference."""
    tx, rx = _sides(model)
    test = load_dataset(tx.card["dataset"], "test").subset(images)
    return simulate_sides(tx, rx, test, math.inf)


def loopback_curves(models: dict[str, str], snrs: list[float], images: int,
                    feedback: str = "genie", interval_ms: float = 20.0) -> dict[str, Any]:
    """The same through the GNU Radio loopback (CFO 1e-3, 50 ppm, 0.37 sample), batches
    paced ``interval_ms`` apart so that ``pilots`` feedback can follow: per model and Es/N0,
    the accuracy of the images received (0-1), the data symbols per image the receiver
    counted, the segments lost and the receiver's Es/N0 estimate."""
    import re

    from phydnn.bench.latency import loopback_argv
    from phydnn.checkpoint import load_card
    from phydnn.programs import compile_flowgraph, parse_summary, run_flowgraph

    script = compile_flowgraph("phydnn_loopback")
    out: dict[str, Any] = {}
    for name, model in models.items():
        rows = {}
        for snr in snrs:
            text = run_flowgraph(script, loopback_argv(
                model, images, snr, "soft", 20e6, dataset=load_card(model)["dataset"],
                feedback=feedback, interval_ms=interval_ms), timeout=900, echo=False)
            got = parse_summary(text)
            per = re.search(r"\(([\d.]+) per image\)", text[text.find("phydnn RX summary"):])
            rows[f"{snr:.1f}"] = {"accuracy": got.get("accuracy", float("nan")) / 100,
                                  "symbols": float(per.group(1)) if per else float("nan"),
                                  "segments_lost": got.get("segments_lost"),
                                  "snr_db": got.get("snr_db")}
        out[name] = rows
    return out


def _told(kind: str, snr_db: float, pilots: int, rng: np.random.Generator) -> float | None:
    if kind == "fixed":
        return None
    if kind == "genie":
        return snr_db
    nv = snr_db_to_noise_var(snr_db) * rng.chisquare(2 * pilots) / (2 * pilots)
    return -10.0 * math.log10(nv)


def _feedback_accuracy(tx, rx, test: ImageDataset, snr_db: float, kind: str, pilots: int,
                       seed: int, batch: int) -> tuple[float, float]:
    """(accuracy, mean values per image) with the transmitter told before each batch by
    ``kind``."""
    sent: list[int] = []

    def tell(rng: np.random.Generator) -> None:
        told = _told(kind, snr_db, pilots, rng)
        if told is not None:
            tx.adapt(told)
        sent.append(tx.net.k(tx.snr_db))

    tx.adapt(tx.net.fixed_snr_db)
    acc = simulate_sides(tx, rx, test, snr_db, batch, seed, before_batch=tell)
    sizes = [min(batch, len(test) - s) for s in range(0, len(test), batch)]
    return acc, float(np.dot(sent, sizes) / len(test))


def feedback_curves(model: str, snrs: list[float], images: int = 10000, pilots: int = 8,
                    draws: int = 3, batch: int = 64) -> dict[str, Any]:
    """VL-VFE with each kind of channel knowledge (:data:`FEEDBACK`), batches of ``batch``
    images each told anew: accuracy (mean, min, max over draws) and mean values per image."""
    tx, rx = _sides(model)
    test = load_dataset(tx.card["dataset"], "test").subset(images)
    out: dict[str, Any] = {"pilot_symbols": pilots, "batch": batch}
    for kind in FEEDBACK:
        rows = {}
        for snr in snrs:
            runs = [_feedback_accuracy(tx, rx, test, snr, kind, pilots, d, batch)
                    for d in range(draws)]
            acc = [a for a, _ in runs]
            rows[f"{snr:.1f}"] = {"accuracy": float(np.mean(acc)), "min": min(acc),
                                  "max": max(acc), "values": float(np.mean([v for _, v in runs]))}
        out[kind] = rows
    return out


def adaptive_tables(curves: dict[str, Any], feedback: dict[str, Any] | None = None,
                    reference: dict[str, float] | None = None) -> list[str]:
    """Markdown: accuracy (min-max over draws) and values / real channel uses per image."""
    from phydnn.report import markdown_table

    snrs = list(next(iter(curves.values()))["curve"])
    lines = ["accuracy (%, mean over noise draws, [min, max]) and values per image (= real "
             "channel uses for analog; digital: one PSK symbol, two real uses, per value):"]
    rows = []
    for name, c in curves.items():
        rows.append([name] + [f"{r['accuracy'] * 100:.2f} [{r['min'] * 100:.2f}, "
                              f"{r['max'] * 100:.2f}] / {r['values']} ({r['real_uses']} real)"
                              for r in (c["curve"][s] for s in snrs)])
    lines += markdown_table(["model"] + [f"{float(s):g} dB" for s in snrs], rows).splitlines()
    for name, acc in (reference or {}).items():
        lines.append(f"{name} (no channel): {acc * 100:.2f} %")
    if feedback:
        lines.append("")
        lines.append(f"VL-VFE channel knowledge at the transmitter (batches of "
                     f"{feedback['batch']}, pilots: m = {feedback['pilot_symbols']} per batch):")
        rows = [[kind] + [f"{r['accuracy'] * 100:.2f} [{r['min'] * 100:.2f}, "
                          f"{r['max'] * 100:.2f}] / {r['values']:.1f}"
                          for r in (feedback[kind][s] for s in snrs)] for kind in FEEDBACK]
        lines += markdown_table(["told"] + [f"{float(s):g} dB" for s in snrs],
                                rows).splitlines()
    return lines


def plot_adaptive(curves: dict[str, Any], path, feedback: dict[str, Any] | None = None,
                  reference: dict[str, float] | None = None) -> None:
    """Accuracy vs Es/N0 (bars: the draws' spread) and real channel uses per image."""
    from phydnn.bench.plots import _save, plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, c in curves.items():
        snr = [float(s) for s in c["curve"]]
        rows = list(c["curve"].values())
        acc = np.array([r["accuracy"] for r in rows]) * 100
        # the draws' mean can sit a rounding error outside their min..max when they agree:
        # matplotlib refuses a negative bar
        err = np.maximum(np.array([[r["accuracy"] - r["min"], r["max"] - r["accuracy"]]
                                   for r in rows]).T * 100, 0.0)
        ax.errorbar(snr, acc, yerr=err, marker="o", capsize=3, label=name)
        bx.plot(snr, [r["real_uses"] for r in rows], marker="o", label=name)
    for kind in ("pilots", "fixed") if feedback else ():
        snr = [float(s) for s in feedback[kind]]
        ax.plot(snr, [r["accuracy"] * 100 for r in feedback[kind].values()], ls="--",
                marker=".", label=f"VL-VFE, told: {kind}")
        bx.plot(snr, [2 * math.ceil(r["values"] / 2) for r in feedback[kind].values()],
                ls="--", marker=".", label=f"VL-VFE, told: {kind}")
    for name, acc in (reference or {}).items():
        ax.axhline(acc * 100, color="grey", ls=":", label=f"{name} (no channel)")
    ax.set(xlabel="Es/N0 = PSNR (dB)", ylabel="test accuracy (%)",
           title="accuracy (spread over noise draws)")
    bx.set(xlabel="Es/N0 = PSNR (dB)", ylabel="real channel uses per image (2 per symbol)",
           title="what each sends (pilots, framing apart)")
    for a in (ax, bx):
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    _save(fig, path)

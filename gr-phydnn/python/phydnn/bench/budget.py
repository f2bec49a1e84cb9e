"""The multi-exit encoder under a compute budget (paper 002, Table IV and Fig. 6-7) beside
static encoders: accuracy vs budget at several Es/N0, the MACs per image the transmitter
really spent and the head time per image it took (real early exit), the exit histogram, and
what goes on air per image (data, the exit map, pilots, and the framing of a batch).

Torch path: :func:`phydnn.link.simulate.simulate_sides` (the payload mapping and AWGN at the
data symbols), over ``draws`` seeded noise draws; the loopback runs the same images through
GNU Radio (:func:`budget_loopback`). Budgets are set by
:meth:`~phydnn.codecs.multiexit.MultiExitTransmitter.set_budget` (thresholds from the
validation confidences in the bundle; the test images only measure).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from phydnn.data import load_dataset
from phydnn.link.header import HEADER_SYMBOLS
from phydnn.link.payload import (
    link_pilot_spacing,
    map_values,
    on_air_length,
    symbols_per_image,
    unmap_symbols,
)
from phydnn.link.preamble import PREAMBLE
from phydnn.link.simulate import simulate_sides
from phydnn.phy.channel import snr_db_to_noise_var

__all__ = ["budget_curves", "budget_loopback", "budget_tables", "plot_budget", "static_curves"]


def _sides(model: str):
    from phydnn.link.endpoints import RxTail, TxHead
    return TxHead(model).side, RxTail(model).side


def _head_time(tx, images: np.ndarray, batch: int = 64) -> float:
    """Seconds per image of the transmitter's encode, batches of 64, after one batch of
    warm-up (the best of three passes: other work may share the CPU)."""
    tx.encode(images[:batch])
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for start in range(0, len(images), batch):
            tx.encode(images[start:start + batch])
        best = min(best, time.perf_counter() - t0)
    return best / len(images)


def _encode_all(tx, images: np.ndarray, batch: int = 64) -> tuple[list, float]:
    """Every batch's payload and the head seconds per image it took (after a warm-up
    batch): the transmitter is deterministic, so the noise draws reuse these."""
    tx.encode(images[:batch])
    tx.reset_counts()
    t0 = time.perf_counter()
    sent = [tx.encode(images[i:i + batch]) for i in range(0, len(images), batch)]
    return sent, (time.perf_counter() - t0) / len(images)


def _accuracy(tx, rx, sent: list, labels: np.ndarray, snr_db: float, seed: int) -> float:
    """The torch path of :func:`phydnn.link.simulate.simulate_sides` over payloads already
    encoded: mapping, AWGN at the data symbols (seeded), unmapping, the receiver."""
    rng = np.random.default_rng(seed)
    nv = snr_db_to_noise_var(float(snr_db))
    correct, start = 0, 0
    for payload in sent:
        sym = map_values(tx.spec, payload.values)
        noise = rng.standard_normal(sym.shape) + 1j * rng.standard_normal(sym.shape)
        y = (sym + noise * np.sqrt(nv / 2)).astype(np.complex64)
        got = rx.decode(unmap_symbols(rx.spec, y, np.full(y.shape, nv, np.float32),
                                      payload.values.shape[1], payload.codec_field))
        n = len(payload.values)
        correct += int((got.labels == labels[start:start + n]).sum())
        start += n
    return correct / len(labels)


def _air(tx, sent: list, batch: int = 64) -> dict[str, float]:
    """Per image, over the batches of 64: data symbols of the features, symbols of the exit
    map, pilots, and the preamble + header of one segment per batch."""
    feat = tx.net.symbols
    spacing = link_pilot_spacing(tx.spec.kind, tx.spec.bits_per_symbol, tx.spec.pilot_spacing)
    data = on_air = 0.0
    n = 0
    for payload in sent:
        k = len(payload.values)
        s = symbols_per_image(tx.spec, payload.values.shape[1]) * k
        data, on_air, n = data + s, on_air + on_air_length(s, spacing), n + k
    framing = (len(PREAMBLE) + HEADER_SYMBOLS) / batch
    return {"feature_symbols": feat, "map_symbols": data / n - feat,
            "pilot_symbols": (on_air - data) / n, "framing_symbols": framing,
            "total_symbols": on_air / n + framing}


def budget_curves(model: str, budgets: list[float], snrs: list[float], images: int = 10000,
                  draws: int = 3) -> dict[str, Any]:
    """Per budget (MACs per image): realised MACs, head seconds per image, exit histogram,
    symbols on air per image, and per Es/N0 the accuracy over ``draws`` draws (mean, min,
    max)."""
    tx, rx = _sides(model)
    test = load_dataset(tx.card["dataset"], "test").subset(images)
    pixels, labels = test.images.numpy(), test.labels.numpy()
    rows = []
    for budget in budgets:
        plan = tx.set_budget(float(budget))
        sent, seconds = _encode_all(tx, pixels)
        realised, hist = tx.realised_macs, (tx.exit_counts / tx.images).tolist()
        acc = {}
        for snr in snrs:
            got = [_accuracy(tx, rx, sent, labels, snr, d) for d in range(draws)]
            acc[f"{snr:.1f}"] = {"accuracy": float(np.mean(got)), "min": min(got),
                                 "max": max(got)}
        rows.append({"budget_macs": float(budget), "realised_macs": realised,
                     "validation_macs": plan.val_macs, "head_s_per_image": seconds,
                     "exits": hist, **_air(tx, sent), "accuracy": acc})
    return {"model": model, "exit_macs": tx.costs.tolist(), "rows": rows}


def static_curves(models: dict[str, str], snrs: list[float], images: int = 10000,
                  draws: int = 3) -> dict[str, Any]:
    """Fixed encoders (the static ResNet, PhyDNN, DT-JSCC ...): MACs per image, head seconds
    per image and accuracy per Es/N0 over the same draws."""
    out = {}
    for name, model in models.items():
        tx, rx = _sides(model)
        test = load_dataset(tx.card["dataset"], "test").subset(images)
        acc = {}
        for snr in snrs:
            tx.adapt(float(snr))
            got = [simulate_sides(tx, rx, test, snr, batch_size=64, seed=d)
                   for d in range(draws)]
            acc[f"{snr:.1f}"] = {"accuracy": float(np.mean(got)), "min": min(got),
                                 "max": max(got)}
        out[name] = {"model": model, "macs": tx.complexity()[1],
                     "head_s_per_image": _head_time(tx, test.images.numpy()),
                     "symbols": symbols_per_image(tx.spec, tx.encode(
                         test.images[:1].numpy()).values.shape[1]), "accuracy": acc}
    return out


def budget_loopback(model: str, budgets: list[float], snr_db: float, images: int,
                    draws: int = 5) -> list[dict[str, Any]]:
    """Each budget through the GNU Radio loopback (CFO 1e-3, 50 ppm, 0.37 sample) on the
    first ``images`` test images, beside the torch path's accuracy over ``draws`` draws on
    the same images (min and max): accuracy (0-1) and segments lost."""
    from phydnn.bench.latency import loopback_argv
    from phydnn.programs import compile_flowgraph, parse_summary, run_flowgraph

    tx, rx = _sides(model)
    test = load_dataset(tx.card["dataset"], "test").subset(images)
    script = compile_flowgraph("phydnn_loopback")
    rows = []
    for budget in budgets:
        tx.set_budget(float(budget))
        ref = [simulate_sides(tx, rx, test, snr_db, batch_size=64, seed=d)
               for d in range(draws)]
        text = run_flowgraph(script, loopback_argv(model, images, snr_db, "soft", 20e6,
                                                   dataset=tx.card["dataset"], budget=budget),
                             timeout=900, echo=False)
        got = parse_summary(text)
        rows.append({"budget_macs": float(budget),
                     "loopback": got.get("accuracy", float("nan")) / 100,
                     "torch": float(np.mean(ref)), "torch_min": min(ref),
                     "torch_max": max(ref), "segments_lost": got.get("segments_lost")})
    return rows


def budget_tables(curves: dict[str, Any], static: dict[str, Any],
                  loop: list[dict[str, Any]] | None = None) -> list[str]:
    """Markdown tables of :func:`budget_curves`, :func:`static_curves` and the loopback."""
    snrs = list(curves["rows"][0]["accuracy"])
    lines = ["| budget (M MACs) | realised (M) | head us/image | exits 1..K (%) | symbols/image "
             "(data + map + pilots + framing) | " + " | ".join(f"{float(s):g} dB" for s in snrs)
             + " |", "|" + "---|" * (5 + len(snrs))]
    for r in curves["rows"]:
        acc = " | ".join(f"{r['accuracy'][s]['accuracy'] * 100:.2f} "
                         f"[{r['accuracy'][s]['min'] * 100:.2f}, "
                         f"{r['accuracy'][s]['max'] * 100:.2f}]" for s in snrs)
        lines.append(f"| {r['budget_macs'] / 1e6:.2f} | {r['realised_macs'] / 1e6:.2f} | "
                     f"{r['head_s_per_image'] * 1e6:.0f} | "
                     f"{' / '.join(f'{h * 100:.0f}' for h in r['exits'])} | "
                     f"{r['total_symbols']:.1f} ({r['feature_symbols']:g} + "
                     f"{r['map_symbols']:.1f} + {r['pilot_symbols']:.1f} + "
                     f"{r['framing_symbols']:.1f}) | {acc} |")
    for name, s in static.items():
        acc = " | ".join(f"{s['accuracy'][k]['accuracy'] * 100:.2f}" for k in snrs
                         if k in s["accuracy"])
        lines.append(f"| {name} (static) | {s['macs'] / 1e6:.2f} | "
                     f"{s['head_s_per_image'] * 1e6:.0f} | - | {s['symbols']} data | {acc} |")
    if loop:
        lines += ["", "| budget (M MACs) | loopback % | torch % [min, max] | loopback - torch |",
                  "|---|---|---|---|"]
        for r in loop:
            lines.append(f"| {r['budget_macs'] / 1e6:.2f} | {r['loopback'] * 100:.2f} | "
                         f"{r['torch'] * 100:.2f} [{r['torch_min'] * 100:.2f}, "
                         f"{r['torch_max'] * 100:.2f}] | "
                         f"{(r['loopback'] - r['torch']) * 100:+.2f} |")
    return lines


def plot_budget(curves: dict[str, Any], static: dict[str, Any], path) -> None:
    """Accuracy vs budget per Es/N0 (static encoders as points at their MACs), realised MACs
    and head time vs budget, and the exit histogram per budget."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = curves["rows"]
    b = np.array([r["budget_macs"] for r in rows]) / 1e6
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, snr in enumerate(rows[0]["accuracy"]):
        color = f"C{i}"
        ax[0].plot(b, [r["accuracy"][snr]["accuracy"] * 100 for r in rows], "o-", color=color,
                   label=f"multi-exit {float(snr):g} dB")
        for j, (name, s) in enumerate(static.items()):
            if snr in s["accuracy"]:
                ax[0].plot(s["macs"] / 1e6, s["accuracy"][snr]["accuracy"] * 100,
                           "sD^v"[j % 4], color=color,
                           label=name if i == 0 else None, mfc="none", ms=8)
    ax[0].set(xlabel="budget (M MACs per image)", ylabel="accuracy (%)",
              title="accuracy vs compute budget")
    ax[0].legend(fontsize=7)
    ax[1].plot(b, b, "k:", label="budget")
    ax[1].plot(b, [r["realised_macs"] / 1e6 for r in rows], "o-", label="realised MACs")
    ax[1].set(xlabel="budget (M MACs per image)", ylabel="M MACs per image")
    t = ax[1].twinx()
    t.plot(b, [r["head_s_per_image"] * 1e6 for r in rows], "s--", color="C3",
           label="head time")
    t.set_ylabel("head time per image (us)", color="C3")
    ax[1].legend(loc="upper left")
    ax[1].set_title("spent vs budget (real early exit)")
    hist = np.array([r["exits"] for r in rows]) * 100
    bottom = np.zeros(len(rows))
    for k in range(hist.shape[1]):
        ax[2].bar(range(len(rows)), hist[:, k], bottom=bottom, label=f"exit {k + 1}")
        bottom += hist[:, k]
    ax[2].set_xticks(range(len(rows)), [f"{v:.1f}" for v in b], fontsize=7)
    ax[2].set(xlabel="budget (M MACs)", ylabel="images (%)", title="exit histogram")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""Joint against separate coding on the same radio (issue 23): accuracy vs Es/N0 of PhyDNN,
DT-JSCC and the separation baseline at *equal channel uses per image*, through the torch
link and the GNU Radio loopback, and the crossing points (the Es/N0 below which joint
coding wins).

A budget is S data symbols per image (784: the default PhyDNN's; 196: the stage-2 PhyDNN's).
Each codec in a budget's list sends exactly S symbols per image (checked from its card:
``symbols_per_image``); framing is the same link's for all of them. The separation codec is
told the channel Es/N0 (it picks its code rate and bits per feature from its rate table);
the joint codecs send the same payload at every Es/N0.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["beyond_draws", "crossing_point", "group_by_budget", "joint_vs_separate"]

CODEC_NAMES = {"phydnn": "PhyDNN", "dtjscc": "DT-JSCC", "separation": "separation"}


def _symbols(card: dict[str, Any]) -> int:
    if "symbols_per_image" in card:
        return int(card["symbols_per_image"])
    return int(card["positions_per_image"])


def group_by_budget(paths: list[str]) -> dict[int, dict[str, str]]:
    """Bundles grouped by the symbols per image their cards state, named by codec (a second
    bundle of the same codec and budget is named by its file)."""
    from phydnn.checkpoint import load_card
    from phydnn.codecs.bundles import card_codec

    budgets: dict[int, dict[str, str]] = {}
    for path in paths:
        card = load_card(path)
        group = budgets.setdefault(_symbols(card), {})
        name = CODEC_NAMES.get(card_codec(card), card_codec(card))
        group[name if name not in group else str(path).rsplit("/", 1)[-1]] = str(path)
    return budgets


@functools.lru_cache(maxsize=8)
def _ends(model: str, images: int):
    """A bundle's two ends (its soft receiver where it has one) and its first test images,
    loaded once per comparison however many Es/N0 values and noise draws follow."""
    from phydnn.checkpoint import load_card
    from phydnn.codecs import get_codec
    from phydnn.codecs.bundles import card_codec
    from phydnn.data import load_dataset
    from phydnn.link import RxTail, TxHead

    card = load_card(model)
    receiver = "soft" if "soft" in getattr(get_codec(card_codec(card)), "receivers",
                                           ("soft",)) else "hard"
    return (TxHead(model), RxTail(model, receiver)), \
        load_dataset(card["dataset"], "test").subset(images)


def _torch_curve(model: str, snrs: list[float], images: int, seed: int = 0
                 ) -> dict[str, float]:
    from phydnn.link.simulate import simulate_link

    ends, test = _ends(model, images)
    return {f"{s:.1f}": simulate_link(ends, test, s, seed=seed) for s in snrs}


def _spread(rows: dict[str, Any], names: list[str], snrs: list[float], images: int,
            draws: int) -> dict[str, dict[str, list[float]]]:
    """Accuracy of each codec at each of ``snrs`` over ``draws`` noise draws (seeds 0..)."""
    return {n: {f"{s:.1f}": [round(_torch_curve(rows[n]["model"], [s], images, seed)
                                   [f"{s:.1f}"], 4) for seed in range(draws)]
                for s in snrs} for n in names}


def _bracket(cross: dict[str, Any], snrs: list[float]) -> list[float]:
    """The grid Es/N0 on both sides of a crossing (its edge of the grid otherwise)."""
    grid = sorted(snrs)
    if cross["kind"] != "cross":
        return [cross["snr_db"]]
    below = max(s for s in grid if s <= cross["snr_db"])
    return [below, min(s for s in grid if s > below)]


def beyond_draws(row: dict[str, Any], margin: float = 0.01) -> dict[str, float]:
    """Es/N0 points where the loopback lies more than ``margin`` outside the range of the
    torch path's noise draws on the same images, and by how much (negative: below). Where a
    curve is steep (separate coding's cliff) one draw's spread is several points, so the
    loopback is judged against the draws, not against one of them."""
    out = {}
    for k, loop in row.get("loopback", {}).items():
        draws = row.get("torch_same_images_draws", {}).get(k)
        if not draws:
            continue
        low, high = min(draws) - margin, max(draws) + margin
        if not low <= loop <= high:
            out[k] = round(loop - (low if loop < low else high), 4)
    return out


def crossing_point(joint: dict[str, float], separate: dict[str, float]) -> dict[str, Any]:
    """Where separate coding overtakes joint coding as Es/N0 rises: the first grid interval
    in which joint - separate changes from > 0 to <= 0, interpolated linearly. ``below``:
    separation wins at every Es/N0 of the grid; ``above``: joint coding wins at all."""
    snrs = sorted(float(s) for s in joint if s in separate)
    diff = [joint[f"{s:.1f}"] - separate[f"{s:.1f}"] for s in snrs]
    if diff[0] <= 0:
        return {"snr_db": snrs[0], "kind": "below", "text": f"separation wins from "
                f"{snrs[0]:g} dB up (joint never ahead on the grid)"}
    for i in range(len(snrs) - 1):
        (s0, d0), (s1, d1) = (snrs[i], diff[i]), (snrs[i + 1], diff[i + 1])
        if d0 > 0 >= d1:
            x = s0 + (s1 - s0) * d0 / (d0 - d1)
            return {"snr_db": round(x, 2), "kind": "cross",
                    "text": f"joint coding wins below {x:.1f} dB"}
    return {"snr_db": snrs[-1], "kind": "above",
            "text": f"joint coding wins at every Es/N0 up to {snrs[-1]:g} dB"}


def joint_vs_separate(budgets: dict[int, dict[str, str]], snrs: list[float],
                      torch_images: int, loopback_images: int,
                      loopback_snrs: list[float], draws: int = 5) -> dict[str, Any]:
    """For each budget S: ``{name: bundle}`` of the codecs compared (names: PhyDNN,
    DT-JSCC, separation); their torch and loopback curves, and the crossing points of the
    joint codecs against separation in both, with the spread of ``draws`` noise draws of
    the torch link at the grid points around each crossing."""
    from phydnn.bench.latency import loopback_accuracy
    from phydnn.checkpoint import load_card
    from phydnn.errors import ConfigError

    out: dict[str, Any] = {"snrs": snrs, "loopback_snrs": loopback_snrs,
                           "torch_images": torch_images, "loopback_images": loopback_images,
                           "budgets": {}}
    for budget, models in budgets.items():
        rows: dict[str, Any] = {}
        for name, model in models.items():
            card = load_card(model)
            if _symbols(card) != budget:
                raise ConfigError(f"{model} sends {_symbols(card)} symbols per image, not "
                                  f"the budget's {budget}")
            print(f"  S={budget}: {name} ({model.rsplit('/', 1)[-1]})", flush=True)
            row: dict[str, Any] = {"model": model,
                                   "torch": _torch_curve(model, snrs, torch_images),
                                   "loopback": {}, "torch_same_images": {}, "delivery": {}}
            if loopback_images and loopback_snrs:
                loop = loopback_accuracy(model, loopback_snrs, loopback_images, ("soft",))
                row["torch_same_images_draws"] = _spread({name: row}, [name], loopback_snrs,
                                                         loopback_images, draws)[name]
                row["torch_same_images"] = {k: v[0] for k, v in   # draw 0: seed 0
                                            row["torch_same_images_draws"].items()}
                row["loopback"] = {k: v["soft"] for k, v in loop.items()}
                row["delivery"] = {k: v["delivery"] for k, v in loop.items()}
            rows[name] = row
        crossings = {}
        for name in (n for n in rows if n != "separation"):
            if "separation" not in rows:
                continue
            crossings[name] = {source: crossing_point(rows[name][source],
                                                      rows["separation"][source])
                               for source in ("torch", "loopback") if rows[name][source]}
        for name, c in crossings.items():          # a small difference: its noise-draw spread
            c["spread"] = _spread(rows, [name, "separation"], _bracket(c["torch"], snrs),
                                  torch_images, draws)
        gaps = {name: max((abs(r["loopback"][k] - r["torch_same_images"][k])
                           for k in r["loopback"]), default=None) for name, r in rows.items()}
        out["budgets"][str(budget)] = {"codecs": rows, "crossings": crossings,
                                       "loopback_minus_torch_max": gaps,
                                       "loopback_beyond_draws": {
                                           name: beyond_draws(r) for name, r in rows.items()}}
    return out

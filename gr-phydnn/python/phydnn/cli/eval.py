"""``phydnn eval``: accuracy vs Es/N0 (hard and soft receivers) of a PhyDNN over the torch
link, as CSV and a PNG plot (paper Fig. 10), and the rate-accuracy table (paper Table II) for
every M on the model's pruning path. With ``--compare`` (or a bundle of another codec): the
codecs side by side at equal channel uses per image, torch and optionally the GNU Radio
loopback, with the crossing points of joint against separate coding."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy vs SNR of a PhyDNN, or of codecs side by side",
                       description=__doc__)
    p.add_argument("--model", required=True, help="codec bundle (e.g. models/x_m4)")
    p.add_argument("--snr", type=float, nargs="+",
                   default=[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20], help="Es/N0 values (dB)")
    p.add_argument("--rate-snr", type=float, default=12.0,
                   help="Es/N0 of the rate-accuracy table (default: %(default)s)")
    p.add_argument("--images", type=int, default=10000, help="test images (default: all)")
    p.add_argument("--seed", type=int, default=0, help="channel noise seed")
    p.add_argument("--out-dir", default="results/eval", help="where CSV/PNG/JSON go")
    p.add_argument("--compare", nargs="+", default=[], metavar="MODEL",
                   help="other codec bundles (DT-JSCC, separation, ...) on the same figure, "
                        "grouped by channel uses per image, with the Es/N0 below which joint "
                        "coding beats a separation bundle")
    p.add_argument("--draws", type=int, default=3,
                   help="with --compare: noise draws at the Es/N0 around each crossing point")
    from phydnn.phy.channel_spec import add_channel_arguments  # torch: only for this verb
    add_channel_arguments(p)
    p.add_argument("--reference", default="",
                   help="with a VFE model: a bundle whose accuracy with no channel is drawn "
                        "beside (the uncompressed network)")
    p.add_argument("--pilots", type=int, default=8,
                   help="with a VL-VFE model: known symbols per batch of the 'pilots' "
                        "feedback's noise estimate (default: %(default)s, paper 000 App. C)")
    p.add_argument("--budgets", type=float, nargs="+", default=[], metavar="MMACS",
                   help="with a multi-exit model: compute budgets in M MACs per image "
                        "(default: six from exit 1's cost to the last exit's)")
    p.add_argument("--loopback-images", type=int, default=0,
                   help="with --compare or a non-PhyDNN model: also this many test images "
                        "through the GNU Radio loopback at every Es/N0 (0: torch only)")


def _path_models(model_path: str, card: dict) -> list[tuple[int, str]]:
    """(M, bundle) for every M on the pruning path whose snapshot exists beside the model."""
    from phydnn.checkpoint import bundle_paths
    cfg = card.get("config", {})
    path = [cfg["M"], *cfg.get("prune_path", [])] if "M" in cfg else []
    stem = str(bundle_paths(model_path)[0].with_suffix(""))
    prefix = stem.rsplit("_m", 1)[0]
    found = [(m, f"{prefix}_m{m}") for m in path if bundle_paths(f"{prefix}_m{m}")[0].exists()]
    return found or [(card["M"], model_path)]


def _codecs(args: argparse.Namespace) -> int:
    """Any codecs side by side: accuracy vs Es/N0 per channel-use budget (torch, and the
    loopback if asked), crossing points, one figure."""
    from phydnn.bench.plots import plot_joint_vs_separate
    from phydnn.bench.report import jvs_tables
    from phydnn.bench.separation import group_by_budget, joint_vs_separate
    from phydnn.errors import check_non_negative, check_positive

    check_non_negative("loopback_images", args.loopback_images, integer=True)
    check_positive("draws", args.draws, integer=True)
    jvs = joint_vs_separate(group_by_budget([args.model, *args.compare]), list(args.snr),
                            args.images, args.loopback_images, list(args.snr), args.draws)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.model).name
    (out / f"{name}_compare.json").write_text(json.dumps(jvs, indent=2) + "\n")
    png = out / f"{name}_compare.png"
    plot_joint_vs_separate(jvs, png)
    print("\n".join(jvs_tables({"joint_vs_separate": jvs})))
    print(f"wrote {png} and {name}_compare.json beside it")
    return 0


def _adaptive(args: argparse.Namespace) -> int:
    """A VFE / VL-VFE beside other codecs: accuracy with its spread over noise draws, values
    and channel uses per image vs Es/N0; VL-VFE's channel knowledge (genie, pilots, fixed)."""
    from phydnn.bench.adaptive import (
        adaptive_curves,
        adaptive_tables,
        feedback_curves,
        noise_free_accuracy,
        plot_adaptive,
    )
    from phydnn.checkpoint import load_card
    from phydnn.errors import check_positive

    check_positive("images", args.images, integer=True)
    check_positive("draws", args.draws, integer=True)
    check_positive("pilots", args.pilots, integer=True)
    models = {Path(m).name: m for m in [args.model, *args.compare]}
    curves = adaptive_curves(models, list(args.snr), args.images, args.draws)
    reference = ({Path(args.reference).name: noise_free_accuracy(args.reference, args.images)}
                 if args.reference else {})
    feedback = (feedback_curves(args.model, list(args.snr), args.images, args.pilots,
                                args.draws)
                if load_card(args.model).get("arch", {}).get("variable") else None)
    loop = {}
    if args.loopback_images:
        from phydnn.bench.adaptive import loopback_curves
        loop = {"genie": loopback_curves(models, list(args.snr), args.loopback_images)}
        if feedback:
            loop["pilots"] = loopback_curves({Path(args.model).name: args.model},
                                             list(args.snr), args.loopback_images, "pilots")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.model).name
    (out / f"{name}_adaptive.json").write_text(json.dumps(
        {"curves": curves, "feedback": feedback, "reference": reference, "loopback": loop},
        indent=2) + "\n")
    plot_adaptive(curves, out / f"{name}_adaptive.png", feedback, reference)
    print("\n".join(adaptive_tables(curves, feedback, reference)))
    for told, rows in loop.items():
        print(f"\nGNU Radio loopback ({args.loopback_images} images, transmitter told: "
              f"{told}): accuracy % / data symbols per image")
        for model, r in rows.items():
            print(f"  {model}: " + ", ".join(f"{float(s):g} dB {v['accuracy'] * 100:.2f} / "
                                             f"{v['symbols']:g}" for s, v in r.items()))
    print(f"wrote {out / f'{name}_adaptive.png'} and {name}_adaptive.json beside it")
    return 0


def _budget(args: argparse.Namespace) -> int:
    """A multi-exit encoder (paper 002) under compute budgets beside static encoders: accuracy
    vs budget per Es/N0, MACs spent and head time per image, exits, symbols on air; with
    ``--loopback-images`` each budget also through the GNU Radio loopback at --rate-snr."""
    import numpy as np

    from phydnn.bench.budget import (
        budget_curves,
        budget_loopback,
        budget_tables,
        plot_budget,
        static_curves,
    )
    from phydnn.checkpoint import load_card
    from phydnn.errors import check_non_negative, check_positive

    check_positive("images", args.images, integer=True)
    check_positive("draws", args.draws, integer=True)
    check_non_negative("loopback_images", args.loopback_images, integer=True)
    costs = load_card(args.model)["exit_macs"]
    budgets = ([b * 1e6 for b in args.budgets] if args.budgets else
               list(np.linspace(costs[0], costs[-1], 6)))
    curves = budget_curves(args.model, budgets, list(args.snr), args.images, args.draws)
    static = static_curves({Path(m).name: m for m in args.compare}, list(args.snr),
                           args.images, args.draws)
    loop = (budget_loopback(args.model, budgets, args.rate_snr, args.loopback_images,
                            args.draws) if args.loopback_images else None)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.model).name
    (out / f"{name}_budget.json").write_text(json.dumps(
        {"curves": curves, "static": static, "loopback": loop}, indent=2) + "\n")
    plot_budget(curves, static, out / f"{name}_budget.png")
    print("\n".join(budget_tables(curves, static, loop)))
    print(f"wrote {out / f'{name}_budget.png'} and {name}_budget.json beside it")
    return 0


def run(args: argparse.Namespace) -> int:
    from phydnn.checkpoint import load_card
    from phydnn.codecs.bundles import card_codec
    from phydnn.errors import ConfigError
    from phydnn.phy.channel_spec import channel_from_args

    channel = channel_from_args(args)
    if card_codec(load_card(args.model)) == "vfe":
        return _adaptive(args)
    if card_codec(load_card(args.model)) == "multiexit":
        return _budget(args)
    if args.compare or card_codec(load_card(args.model)) != "phydnn":
        if not channel.is_awgn:
            raise ConfigError(f"--channel {args.channel} is not allowed with --compare or a "
                              f"non-PhyDNN model yet; those run on AWGN (use --channel awgn)")
        return _codecs(args)
    return _phydnn(args, channel)


def _phydnn(args: argparse.Namespace, channel) -> int:
    from phydnn.data import load_dataset
    from phydnn.errors import check_positive
    from phydnn.models import load_phydnn
    from phydnn.report import markdown_table, plot_accuracy_vs_snr, write_snr_csv
    from phydnn.training import link_accuracy

    check_positive("images", args.images, integer=True)
    model, card = load_phydnn(args.model)
    test = load_dataset(card["dataset"], "test").subset(args.images)
    out = Path(args.out_dir)
    name = Path(args.model).name + ("" if channel.is_awgn else f"_{channel.kind}")
    table = link_accuracy(model, test, args.snr, seed=args.seed, channel=channel)
    write_snr_csv(out / f"{name}_accuracy_vs_snr.csv", table)
    curves = {r: {k: v[r] for k, v in table.items()}
              for r in ("hard", "soft")}
    png = plot_accuracy_vs_snr(
        out / f"{name}_accuracy_vs_snr.png",
        {f"PhyDNN M={card['M']} {r} decisions": c for r, c in curves.items()},
        card.get("pretrained_accuracy"),
        f"{card['backbone']} on {card['dataset']}, split {card['split']}, "
        f"trained at {card['train_snr_db']:g}"
        + (f" ± {card['train_snr_spread_db']:g}" if card.get("train_snr_spread_db") else "")
        + f" dB; channel: {channel.describe()}")
    rows, rate = [], []
    for m, path in _path_models(args.model, card):
        mdl, c = load_phydnn(path)
        acc = link_accuracy(mdl, test, [args.rate_snr], seed=args.seed, channel=channel)
        at = acc[f"{args.rate_snr:.1f}"]
        bytes_img = mdl.bits_per_image / 8
        rate.append({"M": m, "bytes_per_image": bytes_img,
                     "kb_per_64_images": bytes_img * 64 / 1024, **at})
        rows.append([m, f"{bytes_img:g}", f"{bytes_img * 64 / 1024:.2f}",
                     f"{at['hard'] * 100:.2f}", f"{at['soft'] * 100:.2f}"])
    summary = {"model": args.model, "images": len(test), "channel": channel.as_dict(),
               "accuracy_vs_snr": table,
               "rate_vs_accuracy": rate, "rate_snr_db": args.rate_snr,
               "unsplit_accuracy": card.get("pretrained_accuracy")}
    (out / f"{name}_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"channel: {channel.describe()}")
    print(markdown_table(["Es/N0 (dB)", "hard (%)", "soft (%)"],
                         [[k, f"{v['hard'] * 100:.2f}", f"{v['soft'] * 100:.2f}"]
                          for k, v in table.items()]))
    print(f"\nrate vs accuracy at {args.rate_snr:g} dB "
          f"(unsplit {card.get('pretrained_accuracy', float('nan')) * 100:.2f} %):")
    print(markdown_table(["M", "bytes/image", "KB per 64 images", "hard (%)", "soft (%)"],
                         rows))
    print(f"\nwrote {png} and CSV/JSON beside it")
    return 0

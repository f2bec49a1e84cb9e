"""``phydnn train-separation``: the separation baseline (quantise a BottleFit bottleneck,
channel-code with gr-fec, QPSK) with its rate table per channel-use budget; see
:mod:`phydnn.training.separation`."""

from __future__ import annotations

import argparse
from dataclasses import fields


def add_parser(sub: argparse._SubParsersAction) -> None:
    from phydnn.training.separation import SeparationConfig

    d = SeparationConfig()
    p = sub.add_parser("train-separation", help="train the separation baseline (gr-fec)",
                       description=__doc__)
    p.add_argument("--bottleneck", default=d.bottleneck,
                   help="BottleFit bundle whose head and tail it quantises between (or a "
                        "static VFE-family bundle: its active values)")
    p.add_argument("--budgets", type=int, nargs="+", default=list(d.budgets),
                   help="channel uses (QPSK symbols) per image; one bundle each")
    p.add_argument("--codes", nargs="+", default=list(d.codes),
                   help="gr-fec codes to choose from: cc12, cc23, cc34 (K = 7 convolutional, "
                        "soft Viterbi), ldpc300, ldpc500, ldpc1800 (gr-fec's matrices), "
                        "uncoded")
    p.add_argument("--epochs", type=int, default=d.epochs, help="quantiser fine-tuning epochs")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (cosine decay)")
    p.add_argument("--erase-prob", type=float, default=d.erase_prob,
                   help="share of training images with a run of erased features")
    p.add_argument("--val-images", type=int, default=d.val_images,
                   help="validation images carved from the training split")
    p.add_argument("--rate-images", type=int, default=d.rate_images,
                   help="of those, how many choose the mode per Es/N0")
    p.add_argument("--rate-snrs", type=float, nargs="+", default=list(d.rate_snrs),
                   help="Es/N0 values (dB) of the rate table")
    p.add_argument("--crc-bits", type=int, default=d.crc_bits,
                   help="CRC bits per codeword: 16, or 0 for none (budgets of a few dozen "
                        "bits; default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=d.out, help="bundle prefix (OUT_s{budget})")
    p.add_argument("--force", action="store_true", help="replace existing bundles")


def run(args: argparse.Namespace) -> int:
    from phydnn.report import markdown_table
    from phydnn.training.separation import SeparationConfig, train_separation

    names = {f.name for f in fields(SeparationConfig)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()
              if k in names}
    cards = train_separation(SeparationConfig(**values, command=args.command_line))
    for card in cards:
        modes = card["modes"]
        print(f"\n{args.out}_s{card['budget_symbols']}: {card['features']} features, "
              f"{card['budget_symbols']} QPSK symbols per image")
        print(markdown_table(
            ["Es/N0 (dB)", "mode", "accuracy (%)"],
            [[k, _describe(modes[v["mode"]]), f"{v['soft'] * 100:.2f}"]
             for k, v in card["accuracy_vs_snr"].items()]))
    return 0


def _describe(mode: dict) -> str:
    from phydnn.codecs.separation import Mode
    return Mode(**mode).describe()

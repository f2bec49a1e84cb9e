"""``phydnn train-tosc``: train a TOSC-SR codec (paper 004) or its RD / IB baseline with the
task network frozen (see phydnn.training.tosc)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields


def add_parser(sub: argparse._SubParsersAction) -> None:
    from phydnn.training.tosc import TOSCConfig

    d = TOSCConfig()
    p = sub.add_parser("train-tosc", help="train a TOSC-SR image codec (paper 004)",
                       description=__doc__)
    p.add_argument("--task", default=d.task, metavar="BUNDLE",
                   help="the frozen task network F (a backbone bundle on the same dataset)")
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--latent-bits", type=int, default=d.latent_bits,
                   help="K: bits per latent position (1, 2, 4, 8 or 16; 49 K bits per image)")
    p.add_argument("--width", type=int, default=d.width, help="network width")
    p.add_argument("--bits-per-symbol", type=int, default=d.bits_per_symbol,
                   help="1: BPSK, 2: Gray QPSK")
    p.add_argument("--beta", type=float, default=d.beta,
                   help="weight of CE(y, F(x_hat)) in Eq. 31 (0: the RD baseline)")
    p.add_argument("--mse-weight", type=float, default=d.mse_weight,
                   help="weight of the MSE in Eq. 31 (0: the IB baseline)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak one-cycle learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--snr-low", type=float, default=d.snr_low, help="training Es/N0 range (dB)")
    p.add_argument("--snr-high", type=float, default=d.snr_high)
    p.add_argument("--erase-prob", type=float, default=d.erase_prob,
                   help="share of training images that lose a random run of bits")
    p.add_argument("--val-images", type=int, default=d.val_images,
                   help="validation images carved from the training split")
    p.add_argument("--val-snr", type=float, default=d.val_snr)
    p.add_argument("--init", default=d.init, metavar="BUNDLE",
                   help="start from a trained tosc-sr bundle of the same arch (TOSC-SR from RD)")
    p.add_argument("--weights-dtype", default=d.weights_dtype)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=d.out, help="bundle path without suffix")
    p.add_argument("--resume", action="store_true", help="continue from OUT.resume.*")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at OUT")


def run(args: argparse.Namespace) -> int:
    from phydnn.training.tosc import TOSCConfig, train_tosc

    names = {f.name for f in fields(TOSCConfig)}
    cfg = TOSCConfig(**{k: v for k, v in vars(args).items() if k in names},
                     command=args.command_line)
    card = train_tosc(cfg)
    print(json.dumps({k: card[k] for k in ("codec", "variant", "arch", "bits_per_image",
                                           "validation", "training_time_s")}, indent=2))
    for snr, at in card["test_vs_snr"].items():
        print(f"test at {float(snr):g} dB: {json.dumps(at)}")
    return 0

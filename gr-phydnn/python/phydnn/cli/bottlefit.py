"""``phydnn bottlefit``: train a BottleFit bottleneck baseline (BF-1 / BF-2 of paper 003
Sec. IV-B) from a pretrained backbone; see :mod:`phydnn.training.bottlefit`."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from phydnn.training.bottlefit import BottleFitConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bottlefit", help="train a BottleFit bottleneck baseline",
                       description=__doc__)
    d = BottleFitConfig()
    p.add_argument("--pretrained", default=d.pretrained, help="pretrained backbone bundle")
    p.add_argument("--width", type=int, default=d.width,
                   help="channels at the bottleneck (paper: 1 or 2)")
    p.add_argument("--split", default=d.split, help="split point (default: %(default)s)")
    p.add_argument("--epochs-stage1", type=int, default=d.epochs_stage1,
                   help="head-distillation epochs (default: %(default)s)")
    p.add_argument("--epochs-stage2", type=int, default=d.epochs_stage2,
                   help="knowledge-distillation epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr-stage1", type=float, default=d.lr_stage1)
    p.add_argument("--lr-stage2", type=float, default=d.lr_stage2)
    p.add_argument("--alpha", type=float, default=d.alpha, help="weight of the label loss")
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--train-subset", type=int, default=d.train_subset,
                   help="use only the first N training images (0: all)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--data-root", default=None, help="folder of a local dataset (CIFAR)")
    p.add_argument("--out", default=d.out, help="bundle path without suffix")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at OUT")


def run(args: argparse.Namespace) -> int:
    from phydnn.training.bottlefit import train_bottlefit

    names = {f.name for f in fields(BottleFitConfig)}
    cfg = BottleFitConfig(**{k: v for k, v in vars(args).items() if k in names},
                          command=args.command_line)
    card = train_bottlefit(cfg)
    print(json.dumps({k: card[k] for k in ("width", "bytes_per_image", "test_accuracy",
                                           "teacher_accuracy", "training_time_s")}, indent=2))
    return 0

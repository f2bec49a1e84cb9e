"""``phydnn pretrain``: train a backbone from scratch on a dataset (see training.pretrain)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from phydnn.training.pretrain import PretrainConfig, pretrain


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="train a backbone from scratch",
                       description="Train a CIFAR-style ResNet from scratch; writes "
                       "OUT.safetensors, OUT.json (model card) and OUT.metrics.csv.")
    d = PretrainConfig()
    p.add_argument("--dataset", default=d.dataset,
                   help="fashion-mnist, digits, cifar10 or cifar100 (default: %(default)s)")
    p.add_argument("--backbone", default=d.backbone, help="resnet20/32/44/56/110")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak one-cycle learning rate")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--train-subset", type=int, default=d.train_subset,
                   help="use only the first N training images (0: all)")
    p.add_argument("--data-root", default=None, help="folder of a local dataset (CIFAR)")
    p.add_argument("--out", default=d.out, help="bundle path without suffix")
    p.add_argument("--resume", action="store_true", help="continue from OUT.resume.*")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at OUT")


def run(args: argparse.Namespace) -> int:
    names = {f.name for f in fields(PretrainConfig)}
    cfg = PretrainConfig(**{k: v for k, v in vars(args).items() if k in names},
                         command=args.command_line)
    card = pretrain(cfg)
    print(json.dumps({k: card[k] for k in ("backbone", "dataset", "test_accuracy",
                                           "training_time_s", "params")}, indent=2))
    return 0

"""``phydnn train-codec``: train an end-to-end codec (DT-JSCC, DeepJSCC) from scratch with
the channel in the graph (see phydnn.training.codec_train)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from phydnn.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from phydnn.training.codec_train import CodecTrainConfig

    d = CodecTrainConfig()
    p = sub.add_parser("train-codec", help="train an end-to-end codec from scratch",
                       description=__doc__)
    p.add_argument("--codec", default=d.codec,
                   help="dtjscc, deepjscc, vfe, multiexit or toc (default: %(default)s)")
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak one-cycle learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--beta", type=float, default=d.beta, help="weight of the regulariser")
    p.add_argument("--beta-warmup", type=int, default=d.beta_warmup,
                   help="epochs of a linear ramp of beta from 0 (default: %(default)s)")
    p.add_argument("--tau", type=float, default=d.tau, help="Gumbel-softmax temperature")
    p.add_argument("--snr-low", type=float, default=d.snr_low, help="training Es/N0 range (dB)")
    p.add_argument("--snr-high", type=float, default=d.snr_high)
    p.add_argument("--val-images", type=int, default=d.val_images,
                   help="validation images carved from the training split")
    p.add_argument("--val-snr", type=float, default=d.val_snr)
    p.add_argument("--arch", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture setting (e.g. latent=256), repeatable")
    p.add_argument("--weights-dtype", default=d.weights_dtype,
                   help="stored precision: float16, bfloat16 or float32 (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=d.out, help="bundle path without suffix")
    p.add_argument("--init", default="", metavar="BUNDLE",
                   help="start from a trained bundle's weights (the static encoder of paper "
                        "002 from a pretrained backbone)")
    p.add_argument("--teacher", default=d.teacher, metavar="BUNDLE",
                   help="a classifier bundle on the same dataset that distils into the "
                        "network (e.g. models/fmnist_resnet20)")
    p.add_argument("--distill", type=float, default=d.distill,
                   help="weight of the teacher's term in [0, 1) (default: %(default)s)")
    p.add_argument("--distill-temperature", type=float, default=d.distill_temperature,
                   help="softmax temperature of the distillation (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.resume.*")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at OUT")


def _arch(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            raise ConfigError(f"--arch {item!r} is not allowed; write KEY=INTEGER")
        out[key.strip()] = int(value)
    return out


def run(args: argparse.Namespace) -> int:
    from phydnn.training.codec_train import CodecTrainConfig, train_codec

    names = {f.name for f in fields(CodecTrainConfig)} - {"arch"}
    cfg = CodecTrainConfig(**{k: v for k, v in vars(args).items() if k in names},
                           arch=_arch(args.arch), command=args.command_line)
    card = train_codec(cfg)
    print(json.dumps({k: card[k] for k in ("codec", "dataset", "bytes_per_image", "tx_params",
                                           "tx_macs", "validation", "training_time_s")},
                     indent=2))
    for snr, at in card["accuracy_vs_snr"].items():
        print(f"test accuracy at {float(snr):g} dB: {at}")
    return 0

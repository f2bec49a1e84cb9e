"""``phydnn train``: PhyDNN fine-tuning from a pretrained backbone (paper Alg. 1).

Settings come from the defaults, then ``--config FILE.toml``, then ``--set key=value``, then
the explicit flags below. Runs under ``torchrun --nproc-per-node N`` as well (DDP, gloo).
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from phydnn.training.config import FinetuneConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a pretrained backbone into a PhyDNN",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="TOML file with settings (examples: models/*.toml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set prune_epochs=3,6 (repeatable)")
    p.add_argument("--pretrained", help="pretrained backbone bundle")
    p.add_argument("--dataset", help="fashion-mnist, digits, cifar10, cifar100")
    p.add_argument("--data-root", help="folder of a local dataset (CIFAR)")
    p.add_argument("--split", help="split point, e.g. stage1 or stage2")
    p.add_argument("--M", type=int, help="initial codebook size / PSK order")
    p.add_argument("--epochs", type=int)
    p.add_argument("--snr", dest="snr_db", type=float, help="training Es/N0 in dB")
    p.add_argument("--threads", type=int, help="torch threads per process")
    p.add_argument("--out", help="bundle prefix; writes OUT_m<M>.* for every M on the path")
    p.add_argument("--resume", action="store_true", help="continue from OUT.resume.*")
    p.add_argument("--force", action="store_true", help="replace existing bundles at OUT")
    built_in = {f.name: f.default for f in fields(FinetuneConfig)}
    for action in p._actions:      # the flags default to the config's, then the built-in's
        if action.dest in built_in and action.option_strings:
            action.help = (f"{action.help or action.dest} (default: the config's, else "
                           f"{built_in[action.dest]!r})").replace("%", "%%")


def run(args: argparse.Namespace) -> int:
    from phydnn.training import finetune, load_config

    cfg = load_config(args.config, args.overrides, pretrained=args.pretrained,
                      dataset=args.dataset, data_root=args.data_root, split=args.split,
                      M=args.M, epochs=args.epochs, snr_db=args.snr_db, threads=args.threads,
                      out=args.out)
    cards = finetune(cfg, args.command_line, resume=args.resume, force=args.force)
    for card in cards:
        acc = card["accuracy_vs_snr"].get(f"{cfg.snr_db:.1f}", {})
        print(f"M={card['M']:>2}: {card['bytes_per_image']:g} bytes/image, "
              f"accuracy at {cfg.snr_db:g} dB hard {acc.get('hard', float('nan')) * 100:.2f} % "
              f"soft {acc.get('soft', float('nan')) * 100:.2f} % "
              f"(unsplit backbone {card['pretrained_accuracy'] * 100:.2f} %)")
    return 0

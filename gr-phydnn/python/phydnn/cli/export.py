"""``phydnn export``: cut a trained model's TX bundle (what the device runs) and RX bundle
(what the server runs) from its full bundle, both with its fingerprint (phydnn.codecs)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the TX and RX bundles of a model",
                       description=__doc__)
    p.add_argument("--model", required=True, help="full bundle (path without suffix)")
    p.add_argument("--out", default="", help="stem of the bundles: OUT_tx, OUT_rx "
                                             "(default: the model's path)")
    p.add_argument("--force", action="store_true", help="replace existing bundles")


def run(args: argparse.Namespace) -> int:
    from phydnn.checkpoint import bundle_paths
    from phydnn.codecs import export_bundles

    for stem in export_bundles(args.model, args.out or None, args.force):
        weights, card = bundle_paths(stem)
        print(f"{stem}: {weights.stat().st_size / 1e6:.2f} MB of weights, card {card}")
    return 0

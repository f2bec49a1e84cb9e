"""``phydnn export``: cut a trained model's TX bundle (what the device runs) and RX bundle
(what the server runs) from its full bundle, both with its fingerprint (phydnn.codecs); with
``--onnx``, write the TX side as an ONNX graph instead (OUT_tx.onnx, for a device's
TensorRT or ONNX Runtime), checked against torch on test images before it is kept."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the TX and RX bundles of a model",
                       description=__doc__)
    p.add_argument("--model", required=True, help="full bundle (path without suffix)")
    p.add_argument("--out", default="", help="stem of the bundles: OUT_tx, OUT_rx "
                                             "(default: the model's path)")
    p.add_argument("--force", action="store_true", help="replace existing bundles")
    p.add_argument("--onnx", action="store_true",
                   help="write the TX side as ONNX (OUT_tx.onnx) instead of the bundles")
    p.add_argument("--check-images", type=int, default=1000,
                   help="test images the ONNX graph must agree with torch on (default 1000)")


def run(args: argparse.Namespace) -> int:
    from phydnn.checkpoint import bundle_paths
    from phydnn.codecs import export_bundles

    if args.onnx:
        from phydnn.codecs.device_export import export_tx_onnx
        from phydnn.errors import check_positive

        check_positive("check-images", args.check_images, integer=True)
        path, agreement = export_tx_onnx(args.model, args.out or None, args.force,
                                         args.check_images)
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB; ONNX Runtime sends what torch "
              f"sends on {agreement * 100:.2f} % of {args.check_images} test images")
        return 0

    for stem in export_bundles(args.model, args.out or None, args.force):
        weights, card = bundle_paths(stem)
        print(f"{stem}: {weights.stat().st_size / 1e6:.2f} MB of weights, card {card}")
    return 0

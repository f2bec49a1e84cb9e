"""``phydnn demo``: the main job on real Fashion-MNIST test images with the shipped models.

By default: the GNU Radio loopback flowgraph (flowgraphs/phydnn_loopback.grc) sends 2000 test
images through the shipped PhyDNN (M = 4) at 12 dB Es/N0 with a frequency, clock and timing
offset, prints its summary, and sets it next to the torch simulation path on the same images.

With ``--checks``: the shipped pretrained ResNet-20's accuracy, its
split into head (device) and tail (edge server) with exactness, sizes and bits on air per
image at the paper's split point, the PSK physical layer in torch against theory, and the
shipped PhyDNN (M = 4) classifying the same images through the simulated PSK link over AWGN
with hard and soft receivers, next to the unsplit model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from phydnn.cli import loopback
from phydnn.cli.loopback import add_link_options

MODELS = Path(__file__).resolve().parents[4] / "models"
DEFAULT_MODEL = MODELS / "fmnist_resnet20"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo on the shipped Fashion-MNIST model",
                       description=__doc__)
    p.add_argument("--checks", action="store_true",
                   help="instead: backbone, split, PSK-vs-theory and torch-link checks")
    p.add_argument("--backbone", default=str(DEFAULT_MODEL),
                   help="backbone bundle for --checks (no suffix)")
    p.add_argument("--gui", action="store_true",
                   help="show the loopback's Qt window (it stays open on the summary until closed)")
    add_link_options(p)
    p.add_argument("--split", default="stage1", help="split point (default: %(default)s)")
    p.add_argument("--snrs", type=float, nargs="+", default=[0.0, 4.0, 12.0, 20.0],
                   help="Es/N0 values in dB for --checks")


def run(args: argparse.Namespace) -> int:
    if not args.checks:
        args.compare = True
        return loopback.run(args)
    return run_checks(args)


def run_checks(args: argparse.Namespace) -> int:
    import math

    import torch

    from phydnn.checkpoint import bundle_paths
    from phydnn.data import load_dataset
    from phydnn.errors import CheckpointError, check_positive
    from phydnn.models import load_backbone, split_complexity
    from phydnn.phy import AWGNChannel, PSKConstellation, psk_ser_theory
    from phydnn.training import predict

    check_positive("images", args.images, integer=True)
    if not bundle_paths(args.backbone)[0].exists():
        raise CheckpointError(f"no model at {args.backbone}; train one with 'phydnn pretrain "
                              f"--dataset fashion-mnist --out {args.backbone}'")
    model, card = load_backbone(args.backbone)
    test = load_dataset(card["dataset"], "test").subset(args.images)
    t0 = time.perf_counter()
    preds = predict(model, test)
    secs = time.perf_counter() - t0
    acc = float((preds == test.labels).float().mean())
    print(f"model      {args.backbone} ({card['backbone']}, trained on {card['dataset']}: "
          f"{card['test_accuracy'] * 100:.2f} % on its card)")
    print(f"accuracy   {acc * 100:.2f} % on {len(test)} {card['dataset']} test images "
          f"({len(test) / secs:.0f} images/s on CPU)")

    head, tail = model.split(args.split)
    x = test.images[:64]
    from phydnn.data import normalize
    xn = normalize(x, test.mean, test.std)
    with torch.no_grad():
        feats = head(xn)
        exact = torch.equal(tail(feats), model(xn))
    parts = split_complexity(head, tail, test.input_shape)
    positions = feats.shape[2] * feats.shape[3]
    print(f"split      after {args.split}: head {parts['head'].params:,} params "
          f"{parts['head'].macs / 1e6:.1f} M MACs | tail {parts['tail'].params:,} params "
          f"{parts['tail'].macs / 1e6:.1f} M MACs | tail(head(x)) == model(x): {exact}")
    print(f"on air     feature map {tuple(feats.shape[1:])}: {positions} positions per image; "
          f"with M-PSK, {positions} x log2(M) bits: M=4 -> {positions * 2 // 8} bytes/image, "
          f"{positions * 2 * 64 // 8 // 1024} KB per 64 images")
    print("PSK over AWGN (torch layers, 200k symbols each): measured SER / theory")
    print("  Es/N0 dB " + "".join(f"{f'M={m}':>22}" for m in (2, 4, 8, 16)))
    for snr in args.snrs:
        row = []
        for m in (2, 4, 8, 16):
            c = PSKConstellation(m)
            k = torch.randint(0, m, (200_000,))
            ser = float((c.demodulate_hard(AWGNChannel(snr)(c.modulate(k)).symbols) != k)
                        .float().mean())
            row.append(f"{ser:.2e} / {float(psk_ser_theory(m, snr)):.2e}")
        print(f"  {snr:8.1f} " + "".join(f"{r:>22}" for r in row))
    if bundle_paths(args.model)[0].exists():
        _phydnn_link(args, test, acc)
    else:
        print(f"(no PhyDNN model at {args.model}: train one with 'phydnn train')")
    return 0 if exact and math.isfinite(acc) else 1


def _phydnn_link(args: argparse.Namespace, test, unsplit: float) -> None:
    """Classify the test images through the torch PSK link with the shipped PhyDNN."""
    from phydnn.models import load_phydnn
    from phydnn.training import link_accuracy

    model, card = load_phydnn(args.model)
    t0 = time.perf_counter()
    table = link_accuracy(model, test, args.snrs)
    secs = time.perf_counter() - t0
    bits = model.bits_per_image
    print(f"PhyDNN     {args.model}: split {card['split']}, M={model.order} PSK, "
          f"{model.positions_per_image} symbols = {bits // 8} bytes per image "
          f"({bits * 64 // 8 / 1024:.1f} KB per 64 images), fingerprint {card['fingerprint']}")
    print(f"  accuracy through the simulated link on the same {len(test)} images "
          f"(unsplit model: {unsplit * 100:.2f} %; {secs:.0f} s):")
    for snr in args.snrs:
        at = table[f"{snr:.1f}"]
        print(f"  Es/N0 {snr:5.1f} dB   hard {at['hard'] * 100:6.2f} %   "
              f"soft {at['soft'] * 100:6.2f} %")

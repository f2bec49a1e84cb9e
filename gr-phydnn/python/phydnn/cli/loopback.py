"""``phydnn loopback``: run flowgraphs/phydnn_loopback.grc (TX -> channel -> RX in GNU Radio).

The flowgraph is compiled with GNU Radio's grcc into build/flowgraphs/ and run as its own
program, with the Qt window off screen unless ``--gui``.
Its summary is printed as it comes; ``--compare`` adds the torch simulation path on the same
images at the same Es/N0, which the GNU Radio link must match.
"""

from __future__ import annotations

import argparse

from phydnn.errors import ConfigError, check_choice, check_positive
from phydnn.programs import (  # noqa: F401 - the loopback's helpers, used from here by tests
    BUILD,
    FLOWGRAPHS,
    ROOT,
    compile_flowgraph,
    compile_grc,
    flowgraph_env,
    parse_summary,
    run_flowgraph,
)

DEFAULT_MODEL = ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4"
FEEDBACK = ("genie", "pilots", "fixed")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loopback", help="run the GNU Radio loopback flowgraph",
                       description=__doc__)
    add_link_options(p)
    p.add_argument("--compare", action="store_true",
                   help="also run the torch simulation path on the same images")
    p.add_argument("--gui", action="store_true",
                   help="show the Qt window (it stays open on the summary until closed)")


def add_link_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="PhyDNN bundle (no suffix)")
    p.add_argument("--images", type=int, default=2000, help="test images to send")
    p.add_argument("--dataset", default="",
                   help="test images of this dataset (default: the one in the model card)")
    p.add_argument("--snr", type=float, default=12.0, help="Es/N0 in dB (default: 12)")
    p.add_argument("--freq-offset", type=float, default=1e-3,
                   help="frequency offset in cycles per sample (default: 1e-3)")
    p.add_argument("--clock-ppm", type=float, default=50.0,
                   help="sample-clock offset in ppm (default: 50)")
    p.add_argument("--timing-offset", type=float, default=0.37,
                   help="fractional timing offset in samples (default: 0.37)")
    p.add_argument("--receiver", default="soft", help="soft or hard (default: soft)")
    p.add_argument("--segment-loss", type=float, default=0.0,
                   help="fraction of the bursts (segments) erased on air at random, in [0, 1) "
                        "(default: 0)")
    p.add_argument("--profile", default="none",
                   help="multipath power-delay profile at the sample rate: none, itu-indoor-a, "
                        "itu-indoor-b, itu-pedestrian-a (ITU-R M.1225; default: none)")
    p.add_argument("--fading", default="none",
                   help="none, rayleigh or rician (with a profile every path fades on its "
                        "own), block-rayleigh or block-rician (one gain per segment) "
                        "(default: none)")
    p.add_argument("--taps", default="1",
                   help="explicit multipath taps at the sample rate, comma-separated complex "
                        "numbers (e.g. 1,0,0.5j; default: 1); not with --profile")
    p.add_argument("--doppler", type=float, default=1e-4,
                   help="fading Doppler fD*Ts, per sample (default: 1e-4)")
    p.add_argument("--feedback", default="genie",
                   help="what the transmitter is told of the channel: genie (the simulator's "
                        "Es/N0), pilots (the receiver's measurement from each segment's known "
                        "symbols, fed back over a ZMQ return path: a Unix socket of the "
                        "program), fixed (never "
                        "told: the codec's default) (default: genie)")
    p.add_argument("--interval-ms", type=float, default=0.0,
                   help="pace the image batches, one every this many ms, as a camera would "
                        "(default: 0, as fast as the link takes them)")
    p.add_argument("--budget", type=float, default=0.0,
                   help="compute budget of a multi-exit codec, MACs per image on the device "
                        "(default: 0, the model's own: the full network)")
    p.add_argument("--samp-rate", type=float, default=20e6, help="sample rate for the airtime")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before giving up (not with --gui)")


def link_arguments(args: argparse.Namespace) -> list[str]:
    check_positive("images", args.images, integer=True)
    check_choice("receiver", args.receiver, ("soft", "hard"))
    check_choice("feedback", args.feedback, FEEDBACK)
    if not 0.0 <= args.timing_offset < 1.0:
        raise ConfigError(f"--timing-offset {args.timing_offset} is not allowed; it must be "
                          f"a fraction of a sample in [0, 1)")
    if not -10.0 <= args.snr <= 60.0:
        raise ConfigError(f"--snr {args.snr} is not allowed; Es/N0 must be in [-10, 60] dB")
    check_positive("samp-rate", args.samp_rate)
    if not 0.0 <= args.interval_ms <= 60000.0:
        raise ConfigError(f"--interval-ms {args.interval_ms} is not allowed; it must be in "
                          f"[0, 60000] ms")
    if not 0.0 <= args.segment_loss < 1.0:
        raise ConfigError(f"--segment-loss {args.segment_loss} is not allowed; it must be a "
                          f"fraction of the segments in [0, 1)")
    from phydnn.phy.profiles import LINK_FADING, PROFILE_NAMES
    check_choice("profile", args.profile, PROFILE_NAMES)
    check_choice("fading", args.fading, LINK_FADING)
    if not 0.0 <= args.doppler < 0.5:
        raise ConfigError(f"--doppler {args.doppler} is not allowed; fD*Ts must be in "
                          f"[0, 0.5)")
    taps = parse_taps(args.taps)
    if args.profile != "none" and taps != [1.0]:
        raise ConfigError(f"--taps {args.taps} and --profile {args.profile} are not allowed "
                          f"together; give explicit taps or a named profile")
    card = check_bundle(args.model, args.receiver, args.budget)
    dataset = args.dataset or card["dataset"]
    check_image_shape(dataset, card, args.model)
    return ["--model", str(args.model), "--dataset", dataset, "--n-images", str(args.images),
            "--snr-db", str(args.snr), "--freq-offset", str(args.freq_offset),
            "--clock-ppm", str(args.clock_ppm), "--timing-offset", str(args.timing_offset),
            "--receiver", args.receiver, "--samp-rate", str(args.samp_rate),
            "--segment-loss", str(args.segment_loss), "--profile", args.profile,
            "--fading", args.fading, "--doppler", str(args.doppler), "--taps", args.taps,
            "--feedback", args.feedback, "--interval-ms", str(args.interval_ms),
            "--budget", str(args.budget)]


def parse_taps(text: str) -> list[complex]:
    """``--taps``: comma-separated complex numbers, at least one nonzero."""
    try:
        taps = [complex(t.strip().replace(" ", "")) for t in text.split(",")]
    except ValueError:
        raise ConfigError(f"--taps {text!r} is not allowed; write comma-separated complex "
                          f"numbers such as 1,0,0.5j") from None
    if not any(taps):
        raise ConfigError(f"--taps {text!r} is not allowed; at least one tap must be nonzero")
    return taps


def check_bundle(model: str, receiver: str, budget: float = 0.0) -> dict:
    """Load both sides of the codec bundle ``model`` before any flowgraph starts (any bad
    bundle, or a budget it cannot take, stops here with one message); returns its card."""
    from phydnn.checkpoint import bundle_paths
    from phydnn.codecs import load_receiver, load_transmitter
    from phydnn.errors import CheckpointError

    if not bundle_paths(model)[1].exists():
        raise CheckpointError(f"no PhyDNN model at {model} (nor another codec's bundle); "
                              f"train one with 'phydnn train --config "
                              f"models/fmnist_resnet20_phydnn.toml --out {model}'")
    tx = load_transmitter(model)
    if budget:
        tx.set_budget(budget)
    return load_receiver(model, receiver=receiver).card


def check_image_shape(dataset: str, card: dict, model: str) -> None:
    """The dataset must be installed and its images must have the shape the model takes."""
    from phydnn.data import load_dataset

    shape = tuple(load_dataset(dataset, "test").images.shape[1:])
    if shape != tuple(card["input_shape"]):
        raise ConfigError(f"--dataset {dataset} has images of shape {shape}; the model "
                          f"{model} takes {tuple(card['input_shape'])} ({card['dataset']})")


def torch_reference(model: str, images: int, snr: float, receiver: str,
                    told: bool = True, budget: float = 0.0) -> float:
    """Accuracy of the simulation path (no GNU Radio; the codec's two sides around the same
    payload mapping over AWGN, :func:`phydnn.link.simulate.simulate_link`) on the first
    ``images`` test images; the transmitter is told the Es/N0 unless ``told`` is False, and
    given ``budget`` (MACs per image) if not 0."""
    from phydnn.checkpoint import load_card
    from phydnn.data import load_dataset
    from phydnn.link.endpoints import RxTail, TxHead
    from phydnn.link.simulate import simulate_link, simulate_sides

    test = load_dataset(load_card(model)["dataset"], "test").subset(images)
    tx, rx = TxHead(model), RxTail(model, receiver)
    if budget:
        tx.side.set_budget(budget)
    if told:
        return simulate_link((tx, rx), test, snr, receiver)
    return simulate_sides(tx.side, rx.side, test, snr)


def run(args: argparse.Namespace) -> int:
    argv = link_arguments(args)
    script = compile_flowgraph("phydnn_loopback")
    timeout = None if args.gui else args.timeout     # a window waits for its user
    summary = parse_summary(run_flowgraph(script, argv, timeout, args.gui))
    if args.compare:
        ref = torch_reference(args.model, args.images, args.snr, args.receiver,
                              args.feedback != "fixed", args.budget)
        gap = summary.get("accuracy", float("nan")) - ref * 100
        print(f"torch simulation path, same {args.images} images at {args.snr:g} dB "
              f"({args.receiver}): {ref * 100:.2f} %; GNU Radio loopback - torch = "
              f"{gap:+.2f} points")
    return 0

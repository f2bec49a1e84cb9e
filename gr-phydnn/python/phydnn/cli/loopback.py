"""``phydnn loopback``: run flowgraphs/phydnn_loopback.grc (TX -> channel -> RX in GNU Radio).

The flowgraph is compiled with GNU Radio's grcc into build/flowgraphs/ and run as its own
program, with the Qt window off screen unless ``--gui``.
Its summary is printed as it comes; ``--compare`` adds the torch simulation path on the same
images at the same Es/N0, which the GNU Radio link must match.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from phydnn.errors import ConfigError, PhyDNNError, check_choice, check_positive

ROOT = Path(__file__).resolve().parents[4]
FLOWGRAPHS = ROOT / "flowgraphs"
BUILD = ROOT / "build" / "flowgraphs"
DEFAULT_MODEL = ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loopback", help="run the GNU Radio loopback flowgraph",
                       description=__doc__)
    add_link_options(p)
    p.add_argument("--compare", action="store_true",
                   help="also run the torch simulation path on the same images")
    p.add_argument("--gui", action="store_true", help="show the Qt window")


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
    p.add_argument("--samp-rate", type=float, default=20e6, help="sample rate for the airtime")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")


def compile_grc(grc: Path, build: Path, out_name: str | None = None) -> Path:
    """Compile ``grc`` with grcc into ``build``; returns the generated program (or the hier
    block's module, whose name grcc takes from the flowgraph's id: ``out_name``)."""
    out = build / f"{out_name or grc.stem}.py"
    if not grc.exists():
        raise PhyDNNError(f"{grc} is missing")
    build.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["grcc", "-o", str(build), str(grc)], capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise PhyDNNError(f"grcc could not compile {grc}:\n{proc.stdout}{proc.stderr}")
    return out


def compile_flowgraph(name: str) -> Path:
    """flowgraphs/NAME.grc -> build/flowgraphs/NAME.py with grcc (every time: the program
    also depends on the installed block YAML, and grcc takes a second)."""
    return compile_grc(FLOWGRAPHS / f"{name}.grc", BUILD)


def flowgraph_env(gui: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if not gui:
        env["QT_QPA_PLATFORM"] = "offscreen"
    if "XDG_RUNTIME_DIR" not in env:  # Qt wants a private runtime folder (mode 0700)
        runtime = Path(tempfile.gettempdir()) / f"phydnn-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def link_arguments(args: argparse.Namespace) -> list[str]:
    check_positive("images", args.images, integer=True)
    check_choice("receiver", args.receiver, ("soft", "hard"))
    if not 0.0 <= args.timing_offset < 1.0:
        raise ConfigError(f"--timing-offset {args.timing_offset} is not allowed; it must be "
                          f"a fraction of a sample in [0, 1)")
    if not -10.0 <= args.snr <= 60.0:
        raise ConfigError(f"--snr {args.snr} is not allowed; Es/N0 must be in [-10, 60] dB")
    check_positive("samp-rate", args.samp_rate)
    if not 0.0 <= args.segment_loss < 1.0:
        raise ConfigError(f"--segment-loss {args.segment_loss} is not allowed; it must be a "
                          f"fraction of the segments in [0, 1)")
    from phydnn.checkpoint import bundle_paths, load_card
    from phydnn.errors import CheckpointError
    from phydnn.models import load_phydnn

    if not bundle_paths(args.model)[1].exists():
        raise CheckpointError(f"no PhyDNN model at {args.model}; train one with 'phydnn train "
                              f"--config models/fmnist_resnet20_phydnn.toml --out {args.model}'")
    kind = load_card(args.model).get("kind")
    if kind != "phydnn":
        raise CheckpointError(f"{args.model} is not a PhyDNN bundle (its card says "
                              f"kind={kind!r})")
    _, card = load_phydnn(args.model)   # the whole bundle, before any flowgraph starts
    dataset = args.dataset or card["dataset"]
    check_image_shape(dataset, card, args.model)
    return ["--model", str(args.model), "--dataset", dataset, "--n-images", str(args.images),
            "--snr-db", str(args.snr), "--freq-offset", str(args.freq_offset),
            "--clock-ppm", str(args.clock_ppm), "--timing-offset", str(args.timing_offset),
            "--receiver", args.receiver, "--samp-rate", str(args.samp_rate),
            "--segment-loss", str(args.segment_loss)]


def check_image_shape(dataset: str, card: dict, model: str) -> None:
    """The dataset must be installed and its images must have the shape the model takes."""
    from phydnn.data import load_dataset

    shape = tuple(load_dataset(dataset, "test").images.shape[1:])
    if shape != tuple(card["input_shape"]):
        raise ConfigError(f"--dataset {dataset} has images of shape {shape}; the model "
                          f"{model} takes {tuple(card['input_shape'])} ({card['dataset']})")


def run_flowgraph(script: Path, argv: list[str], timeout: float, gui: bool = False,
                  echo: bool = True) -> str:
    """Run a generated flowgraph program; returns its output (echoed as it comes)."""
    proc = subprocess.Popen([sys.executable, "-u", str(script), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=flowgraph_env(gui))
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if echo and not _noise(line):
                print(line, end="", flush=True)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        proc.kill()
        raise PhyDNNError(f"{script.name} did not finish within {timeout:g} s") from err
    out = "".join(lines)
    if proc.returncode not in (0, -2) or "phydnn RX summary" not in out:
        raise PhyDNNError(f"{script.name} failed (exit code {proc.returncode}):\n{out[-3000:]}")
    return out


def _noise(line: str) -> bool:
    return bool(re.search(r":info: |XDG_RUNTIME_DIR|propagateSizeHints|^\s*$", line))


def parse_summary(text: str) -> dict[str, float]:
    """Numbers of the RX summary: images, accuracy (%), segments ok / lost, snr_db."""
    out: dict[str, float] = {}
    patterns = {"images": r"images classified : (\d+)", "accuracy": r"accuracy\s+: ([\d.]+) %",
                "segments_ok": r"segments\s+: (\d+) ok", "segments_lost": r"ok, (\d+) lost",
                "snr_db": r"SNR \(estimated\)\s+: (-?[\d.]+|nan) dB",
                "delivery": r"segment delivery\s+: ([\d.]+) %",
                "partial": r"\((\d+) partial\)"}
    for key, pat in patterns.items():
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out


def torch_reference(model: str, images: int, snr: float, receiver: str) -> float:
    """Accuracy of the torch simulation path on the first ``images`` test images."""
    from phydnn.data import load_dataset
    from phydnn.models import load_phydnn
    from phydnn.training import link_accuracy

    net, card = load_phydnn(model)
    test = load_dataset(card["dataset"], "test").subset(images)
    return link_accuracy(net, test, [snr], (receiver,))[f"{float(snr):.1f}"][receiver]


def run(args: argparse.Namespace) -> int:
    argv = link_arguments(args)
    script = compile_flowgraph("phydnn_loopback")
    summary = parse_summary(run_flowgraph(script, argv, args.timeout, args.gui))
    if args.compare:
        ref = torch_reference(args.model, args.images, args.snr, args.receiver)
        gap = summary.get("accuracy", float("nan")) - ref * 100
        print(f"torch simulation path, same {args.images} images at {args.snr:g} dB "
              f"({args.receiver}): {ref * 100:.2f} %; GNU Radio loopback - torch = "
              f"{gap:+.2f} points")
    return 0

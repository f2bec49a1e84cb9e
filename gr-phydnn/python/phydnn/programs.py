"""Generated flowgraph programs: compile flowgraphs/*.grc with GNU Radio's grcc and run the
program as its own process, and read the RX summary it prints. Used by ``phydnn loopback``,
``phydnn demo`` and ``phydnn bench`` (this module sits below all of them; it imports no GNU
Radio itself: grcc and the programs run in subprocesses).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from phydnn.errors import PhyDNNError

__all__ = ["BUILD", "FLOWGRAPHS", "ROOT", "compile_flowgraph", "compile_grc",
           "flowgraph_env", "parse_summary", "run_flowgraph"]

ROOT = Path(__file__).resolve().parents[3]
FLOWGRAPHS = ROOT / "flowgraphs"
BUILD = ROOT / "build" / "flowgraphs"


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


def run_flowgraph(script: Path, argv: list[str], timeout: float | None, gui: bool = False,
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
        raise PhyDNNError(f"{script.name} did not finish within {timeout} s") from err
    out = "".join(lines)
    if proc.returncode not in (0, -2) or "phydnn RX summary" not in out:
        raise PhyDNNError(f"{script.name} failed (exit code {proc.returncode}):\n{out[-3000:]}")
    return out


def _noise(line: str) -> bool:
    return bool(re.search(r":info: |XDG_RUNTIME_DIR|propagateSizeHints|^\s*$", line))


def parse_summary(text: str) -> dict[str, float]:
    """Numbers of the RX summary: images, accuracy (%; of the images received), segments ok /
    lost, snr_db, never_seen and accuracy_all (%; of all sent, the never-seen counted as
    wrong; only when some were never seen). Read from the summary on, not from the status
    lines before it."""
    out: dict[str, float] = {}
    start = text.find("phydnn RX summary")
    text = text[start:] if start >= 0 else text
    patterns = {"images": r"images classified : (\d+)", "accuracy": r"accuracy\s+: ([\d.]+) %",
                "segments_ok": r"segments\s+: (\d+) ok", "segments_lost": r"ok, (\d+) lost",
                "snr_db": r"SNR \(estimated\)\s+: (-?[\d.]+|nan) dB",
                "delivery": r"segment delivery\s+: ([\d.]+) %",
                "partial": r"\((\d+) partial\)", "never_seen": r"never seen\s+: (\d+)",
                "accuracy_all": r"of all sent\s+: ([\d.]+) %"}
    for key, pat in patterns.items():
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out

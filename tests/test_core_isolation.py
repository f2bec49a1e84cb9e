"""The core package never imports GNU Radio (DESIGN.md: one home per algorithm)."""

from __future__ import annotations

import subprocess
import sys

CORE = ["phydnn", "phydnn.phy", "phydnn.models", "phydnn.data", "phydnn.training",
        "phydnn.link", "phydnn.link.timeline", "phydnn.fullstack", "phydnn.fullstack.baselines",
        "phydnn.training.bottlefit", "phydnn.checkpoint", "phydnn.cli.__main__"]


def test_importing_the_core_does_not_import_gnuradio():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE) +
            "bad = [m for m in sys.modules if m == 'gnuradio' or m.startswith('gnuradio.')]\n"
            "print(bad)\nassert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

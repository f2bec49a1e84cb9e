"""The core package never imports GNU Radio (DESIGN.md: one home per algorithm)."""

from __future__ import annotations

import subprocess
import sys

CORE = ["phydnn", "phydnn.phy", "phydnn.models", "phydnn.data", "phydnn.training",
        "phydnn.link", "phydnn.link.timeline", "phydnn.fullstack", "phydnn.fullstack.baselines",
        "phydnn.training.bottlefit", "phydnn.checkpoint", "phydnn.cli.__main__",
        "phydnn.codecs", "phydnn.codecs.separation", "phydnn.training.separation",
        "phydnn.bench.energy"]


def test_importing_the_core_does_not_import_gnuradio():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE) +
            "phydnn.codecs.codec_names()\n" +          # every built-in codec registered
            "bad = [m for m in sys.modules if m == 'gnuradio' or m.startswith('gnuradio.')]\n"
            "print(bad)\nassert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

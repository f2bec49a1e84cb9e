"""gr-phydnn GNU Radio blocks: ``from gnuradio import phydnn``.

Installed by CMake into GNU Radio's Python tree. The C++ blocks (``symbol_timing_cc``) come
from the bindings built beside this file (``phydnn_python``); the Python blocks live in the
``phydnn`` package (``phydnn.blocks``), which pip installs into gr-phydnn's virtual
environment together with torch, and this module re-exports them.

Programs generated from flowgraphs import this module; for them a gr-phydnn refusal (a bad
setting, no USRP in usrp mode, a missing model) ends the program with its one-line message
and exit code 2 instead of a traceback.
"""

import sys as _sys

from .phydnn_python import *  # noqa: F401,F403  (C++ blocks; no torch needed)
from .phydnn_python import symbol_timing_cc

try:
    from phydnn import __version__
    from phydnn.blocks import *  # noqa: F401,F403
    from phydnn.blocks import __all__ as _blocks
    from phydnn.errors import PhyDNNError as _PhyDNNError
except ImportError as _exc:  # torch / phydnn live in the project's virtual environment
    raise ImportError(
        "gr-phydnn's Python package 'phydnn' is not importable from this interpreter "
        f"({_exc}). Activate the environment made by tools/setup first: "
        "'source <gr-phydnn checkout>/.venv/bin/activate'.") from _exc

_previous_hook = _sys.excepthook


def _excepthook(kind, value, tb):
    if isinstance(value, _PhyDNNError):
        print(f"{_sys.argv[0].rsplit('/', 1)[-1]}: error: {value}", file=_sys.stderr)
        _sys.exit(2)
    _previous_hook(kind, value, tb)


_sys.excepthook = _excepthook

__all__ = ["__version__", "symbol_timing_cc", *_blocks]

"""gr-phydnn GNU Radio blocks: ``from gnuradio import phydnn``.

Installed by CMake into GNU Radio's Python tree. The blocks live in the ``phydnn`` package
(``phydnn.blocks``), which pip installs into gr-phydnn's virtual environment together with
torch; this module only re-exports them.
"""

try:
    from phydnn import __version__
    from phydnn.blocks import *  # noqa: F401,F403
    from phydnn.blocks import __all__ as _blocks
except ImportError as _exc:  # torch / phydnn live in the project's virtual environment
    raise ImportError(
        "gr-phydnn's Python package 'phydnn' is not importable from this interpreter "
        f"({_exc}). Activate the environment made by tools/setup first: "
        "'source <gr-phydnn checkout>/.venv/bin/activate'.") from _exc

__all__ = ["__version__", *_blocks]

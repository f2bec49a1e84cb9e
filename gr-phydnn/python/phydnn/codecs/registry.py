"""Codecs by name (CompressAI-style): ``@register_codec("dtjscc", codec_id=2)`` on a
:class:`~phydnn.codecs.base.Codec` subclass; model cards name their codec, the CLI, the
blocks and the PHY header (its 8-bit codec id) find it here.

Codecs outside this package register themselves when their module is imported: list the
modules in the environment variable ``PHYDNN_CODECS`` (comma-separated, importable names), or
publish them under the entry-point group ``phydnn.codecs``. A model card never names code
to import.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points

from phydnn.errors import CheckpointError, ConfigError

__all__ = ["codec_by_id", "codec_names", "get_codec", "load_plugins", "register_codec"]

_CODECS: dict[str, type] = {}
_BUILTIN = ("phydnn.codecs.phydnn", "phydnn.codecs.dtjscc", "phydnn.codecs.deepjscc",
            "phydnn.codecs.separation", "phydnn.codecs.vfe",
            "phydnn.codecs.multiexit", "phydnn.codecs.toc", "phydnn.codecs.tosc_sr")
_loaded = False


def register_codec(name: str, codec_id: int) -> Callable[[type], type]:
    """Class decorator: make a Codec subclass available as ``name`` / ``codec_id`` (1..255)."""
    if not 1 <= int(codec_id) <= 255:
        raise ConfigError(f"codec_id={codec_id} is not allowed; it must be in 1..255")

    def wrap(cls: type) -> type:
        for other in _CODECS.values():
            if other.codec_id == codec_id and other.name != name:
                raise ConfigError(f"codec id {codec_id} of {name!r} is taken by {other.name!r}")
        cls.name, cls.codec_id = name, int(codec_id)
        _CODECS[name] = cls
        return cls
    return wrap


def load_plugins() -> None:
    """Import the built-in codecs, those of ``PHYDNN_CODECS`` and the entry points (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN:
        importlib.import_module(module)
    for module in filter(None, (m.strip() for m in os.environ.get("PHYDNN_CODECS", "")
                                .split(","))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"PHYDNN_CODECS names {module!r}, which cannot be imported: "
                              f"{exc}") from exc
    for ep in entry_points(group="phydnn.codecs"):
        ep.load()


def codec_names() -> list[str]:
    load_plugins()
    return sorted(_CODECS)


def get_codec(name: str) -> type:
    """The codec class registered as ``name``; an unknown name lists the known ones."""
    load_plugins()
    if name not in _CODECS:
        raise CheckpointError(f"codec {name!r} is not known; known codecs: "
                              f"{', '.join(sorted(_CODECS))} (others register through "
                              f"PHYDNN_CODECS or the 'phydnn.codecs' entry points)")
    return _CODECS[name]


def codec_by_id(codec_id: int) -> type | None:
    load_plugins()
    return next((c for c in _CODECS.values() if c.codec_id == codec_id), None)

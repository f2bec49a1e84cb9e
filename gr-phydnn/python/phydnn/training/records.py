"""What every training command records and refuses alike: an existing bundle is not
overwritten without ``--force``; the card names the machine the run took its time on, the
command, the settings and the version; the resume point goes once the bundle is saved."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from phydnn import __version__
from phydnn.checkpoint import bundle_paths
from phydnn.errors import ConfigError

__all__ = ["drop_resume", "machine", "provenance", "refuse_overwrite", "settings"]


def refuse_overwrite(out: str, force: bool, resume: bool = False) -> None:
    """Refuse an ``out`` that already holds a bundle unless ``force`` (or ``resume``)."""
    weights, card = bundle_paths(out)
    if (weights.exists() or card.exists()) and not (force or resume):
        raise ConfigError(f"out={out!r} already holds a model; pass --force to replace it "
                          f"or choose another --out")


def machine() -> str:
    """The card's ``machine``: torch threads and version."""
    return f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"


def provenance(command: str, config: dict[str, Any]) -> dict[str, Any]:
    """The card's closing fields: machine, the exact command, the settings, the version."""
    return {"machine": machine(), "command": command, "config": config,
            "gr_phydnn_version": __version__}


def drop_resume(stem: str | Path) -> None:
    """Remove the resume point ``stem`` (weights and card) once the bundle is saved."""
    for p in bundle_paths(stem):
        p.unlink(missing_ok=True)


def settings(cfg: Any) -> dict[str, Any]:
    """A training config dataclass as the card's ``config``: every field but the command."""
    d = asdict(cfg)
    d.pop("command", None)
    return d

"""What every training command records and refuses alike: an existing bundle is not
overwritten without ``--force``, and the card names the machine the run took its time on."""

from __future__ import annotations

import torch

from phydnn.checkpoint import bundle_paths
from phydnn.errors import ConfigError

__all__ = ["machine", "refuse_overwrite"]


def refuse_overwrite(out: str, force: bool, resume: bool = False) -> None:
    """Refuse an ``out`` that already holds a bundle unless ``force`` (or ``resume``)."""
    weights, card = bundle_paths(out)
    if (weights.exists() or card.exists()) and not (force or resume):
        raise ConfigError(f"out={out!r} already holds a model; pass --force to replace it "
                          f"or choose another --out")


def machine() -> str:
    """The card's ``machine``: torch threads and version."""
    return f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"

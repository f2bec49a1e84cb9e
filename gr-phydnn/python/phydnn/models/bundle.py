"""Save and load a backbone as a model bundle (safetensors + card), rebuilt from its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from phydnn.checkpoint import load_bundle, save_bundle
from phydnn.errors import CheckpointError
from phydnn.models.registry import backbone_names, build_backbone

__all__ = ["save_backbone", "load_backbone"]


def save_backbone(path: str | Path, model: nn.Module, card: dict[str, Any]) -> Path:
    """Save ``model``'s state; the card must name its backbone, in_channels and num_classes."""
    for key in ("backbone", "in_channels", "num_classes"):
        if key not in card:
            raise CheckpointError(f"a backbone card needs the key {key!r}")
    return save_bundle(path, model.state_dict(), {"kind": "backbone", **card})


def load_backbone(path: str | Path, expect_backbone: str | None = None,
                  device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the backbone named in the card and load its weights strictly (eval mode)."""
    state, card = load_bundle(path, device)
    name = card.get("backbone")
    if name not in backbone_names():
        raise CheckpointError(f"{path}: card names backbone {name!r}; known: "
                              f"{', '.join(backbone_names())}")
    if expect_backbone is not None and name != expect_backbone:
        raise CheckpointError(f"{path} holds a {name} but backbone={expect_backbone!r} was asked")
    model = build_backbone(name, int(card["in_channels"]), int(card["num_classes"]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit {name} "
                              f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    return model.to(device).eval(), card

"""Backbones by name: ``register_backbone("resnet20")`` decorates a builder (CompressAI-style)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from phydnn.errors import check_choice

__all__ = ["register_backbone", "build_backbone", "backbone_names"]

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``builder(in_channels=..., num_classes=...)`` available as ``name``."""
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _BACKBONES[name] = builder
        return builder
    return wrap


def backbone_names() -> list[str]:
    """Registered backbone names, e.g. ['resnet20', 'resnet32', ...]."""
    return list(_BACKBONES)


def build_backbone(name: str, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """Build the backbone registered as ``name``; unknown names raise ConfigError listing all."""
    check_choice("backbone", name, backbone_names())
    return _BACKBONES[name](in_channels=in_channels, num_classes=num_classes)

"""Save and load a backbone as a model bundle (safetensors + card), rebuilt from its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from phydnn.checkpoint import load_bundle, save_bundle
from phydnn.errors import CheckpointError
from phydnn.models.context import independent_pairs
from phydnn.models.phydnn_net import PhyDNN, build_phydnn
from phydnn.models.registry import backbone_names, build_backbone

__all__ = ["save_backbone", "load_backbone", "save_phydnn", "load_phydnn", "phydnn_from_state"]


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


def save_phydnn(path: str | Path, model: PhyDNN, card: dict[str, Any]) -> Path:
    """Save a PhyDNN (head, tail, codebook, map); the card records how to rebuild it."""
    for key in ("backbone", "in_channels", "num_classes", "split", "input_shape"):
        if key not in card:
            raise CheckpointError(f"a PhyDNN card needs the key {key!r}")
    full = {"kind": "phydnn", **card, "M": model.order, "pi": model.pi.tolist(),
            "prior": [round(float(p), 6) for p in model.prior],
            "neighbours_agree": [round(float(j.diagonal().sum()), 4) for j in model.pairs],
            "scoring": model.codebook.scoring, "fingerprint": model.fingerprint()}
    return save_bundle(path, model.state_dict(), full)


def load_phydnn(path: str | Path, expect: dict[str, Any] | None = None,
                device: str = "cpu") -> tuple[PhyDNN, dict[str, Any]]:
    """Rebuild a PhyDNN from its card and load its weights strictly (eval mode).

    ``expect`` (e.g. {"backbone": "resnet20", "split": "stage1"}) refuses a checkpoint made
    for another backbone or split point with a message naming both.
    """
    state, card = load_bundle(path, device)
    if card.get("kind") != "phydnn":
        raise CheckpointError(f"{path} is a {card.get('kind', 'unknown')!r} bundle, "
                              f"not a PhyDNN")
    for key, want in (expect or {}).items():
        if card.get(key) != want:
            raise CheckpointError(f"{path} was made for {key}={card.get(key)!r}, "
                                  f"but {key}={want!r} was asked")
    model = phydnn_from_state(state, card, path)
    model.constellation = model.constellation.to(device)
    return model.to(device).eval(), card


def phydnn_from_state(state: dict[str, Tensor], card: dict[str, Any], path: str | Path,
                      keys: tuple[str, ...] = ("",)) -> PhyDNN:
    """The PhyDNN a card describes with ``state`` loaded; only weights under ``keys`` must be
    there (a TX bundle has no tail, an RX bundle no head: the rest stays as built). Bundles
    made before the source model existed load with a uniform prior and independent
    neighbours."""
    backbone = build_backbone(card["backbone"], int(card["in_channels"]),
                              int(card["num_classes"]))
    model = build_phydnn(backbone, card["split"], int(card["M"]), tuple(card["input_shape"]),
                         card.get("scoring", "distance"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.startswith(keys) and k not in ("prior", "pairs")]
    if "pairs" not in state:        # no neighbour statistics: independent neighbours
        model.pairs = independent_pairs(model.prior)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit a {card['backbone']} PhyDNN split "
                              f"at {card['split']} with M={card['M']}")
    return model.eval()

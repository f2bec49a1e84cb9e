"""Model files: weights in safetensors plus a JSON model card (DESIGN.md, Model bundle).

``save_bundle("models/x")`` writes ``models/x.safetensors`` and ``models/x.json``; both are
written to temporary files first and renamed into place, so a failure never leaves half a
bundle or clobbers a good one. Loading never unpickles anything: safetensors holds raw tensors
and the card is JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from phydnn.errors import CheckpointError

__all__ = ["save_bundle", "load_bundle", "load_card", "bundle_paths", "CARD_FORMAT"]

CARD_FORMAT = "gr-phydnn/model-card/1"


def bundle_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for a bundle named by its stem, .safetensors or .json path."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _atomic_write(target: Path, write: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a model file is for everyone
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_bundle(path: str | Path, state: dict[str, torch.Tensor], card: dict[str, Any]) -> Path:
    """Write weights and card; returns the weights path. Tensors are saved contiguous, on CPU."""
    weights, card_path = bundle_paths(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    full_card = {"format": CARD_FORMAT, **card}
    text = json.dumps(full_card, indent=2, sort_keys=False) + "\n"
    _atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata={"format": CARD_FORMAT}))
    _atomic_write(card_path, lambda tmp: Path(tmp).write_text(text))
    return weights


def load_card(path: str | Path) -> dict[str, Any]:
    """Read and check the JSON model card of a bundle."""
    _, card_path = bundle_paths(path)
    if not card_path.is_file():
        raise CheckpointError(f"model card not found: {card_path}")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"model card {card_path} is not valid JSON: {exc}") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CheckpointError(f"{card_path} is not a gr-phydnn model card "
                              f"(expected format {CARD_FORMAT!r})")
    return card


def load_bundle(path: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read weights (safetensors, no pickle) and card of a bundle."""
    weights, _ = bundle_paths(path)
    card = load_card(path)
    if not weights.is_file():
        raise CheckpointError(f"weights not found: {weights}")
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is not a valid safetensors file: {exc}") from exc
    return state, card

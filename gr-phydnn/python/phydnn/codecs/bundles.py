"""Codec bundles: a *full* bundle (what training writes) and the *TX* and *RX* bundles that
``phydnn export`` cuts from it (DESIGN.md "Interfaces"): the TX bundle holds only what the
device runs, the RX bundle only what the server runs, both with the full bundle's
fingerprint. The card says which (``role``: full, tx, rx) and names the codec; loading
never unpickles (safetensors + JSON, :mod:`phydnn.checkpoint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from phydnn.checkpoint import bundle_paths, load_bundle, load_card, save_bundle
from phydnn.codecs.base import PayloadSpec, Receiver, Transmitter
from phydnn.codecs.registry import get_codec
from phydnn.errors import CheckpointError, ConfigError

__all__ = ["ROLES", "bundle_role", "card_codec", "export_bundles", "load_receiver",
           "load_transmitter", "payload_spec", "split_state"]

ROLES = ("full", "tx", "rx")


def card_codec(card: dict[str, Any]) -> str:
    """The codec a card names (PhyDNN bundles made before codecs existed: 'phydnn')."""
    if "codec" in card:
        return str(card["codec"])
    if card.get("kind") == "phydnn":
        return "phydnn"
    raise CheckpointError(f"{card.get('path', 'this bundle')} is a "
                          f"{card.get('kind', 'unknown')!r} bundle, not a PhyDNN bundle nor "
                          f"another codec's (its card names no codec)")


def bundle_role(card: dict[str, Any]) -> str:
    role = card.get("role", "full")
    if role not in ROLES:
        raise CheckpointError(f"bundle role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _card(path: str | Path) -> dict[str, Any]:
    card = load_card(path)
    card["path"] = str(path)
    card["codec"] = card_codec(card)
    return card


def payload_spec(path: str | Path) -> PayloadSpec:
    """The payload a bundle's codec sends, from its card alone (no weights loaded)."""
    card = _card(path)
    return get_codec(card["codec"]).payload_spec(card)


def _load(path: str | Path, side: str) -> tuple[type, dict[str, torch.Tensor], dict[str, Any]]:
    card = _card(path)
    codec = get_codec(card["codec"])
    role = bundle_role(card)
    if role not in ("full", side):
        want = "transmitter (device)" if side == "tx" else "receiver (server)"
        raise CheckpointError(f"{path} is a {role.upper()} bundle of {card['codec']}; a {want}"
                              f" needs a {side.upper()} or full bundle")
    state, _ = load_bundle(path)
    return codec, state, card


def load_transmitter(path: str | Path) -> Transmitter:
    """The device side of the codec bundle at ``path`` (a TX or full bundle)."""
    codec, state, card = _load(path, "tx")
    return codec.transmitter(state, card)


def load_receiver(path: str | Path, **options: Any) -> Receiver:
    """The server side of the codec bundle at ``path`` (an RX or full bundle); ``options``
    go to the codec (e.g. receiver='soft')."""
    codec, state, card = _load(path, "rx")
    return codec.receiver(state, card, **options)


def split_state(codec: type, state: dict[str, torch.Tensor], side: str
                ) -> dict[str, torch.Tensor]:
    """The weights of one side: keys under the codec's ``tx_keys`` or ``rx_keys``."""
    prefixes = codec.tx_keys if side == "tx" else codec.rx_keys
    return {k: v for k, v in state.items() if k.startswith(prefixes)}


def export_bundles(path: str | Path, out: str | Path | None = None,
                   force: bool = False) -> tuple[Path, Path]:
    """Write ``OUT_tx`` and ``OUT_rx`` (default OUT = the full bundle's path) from a full
    bundle; refuses to overwrite unless ``force``. Returns the two bundle stems."""
    card = _card(path)
    if bundle_role(card) != "full":
        raise CheckpointError(f"{path} is already a {card['role'].upper()} bundle; export "
                              f"cuts TX and RX bundles from a full one")
    codec = get_codec(card["codec"])
    state, _ = load_bundle(path)
    base = Path(out) if out else Path(str(path))
    stems = (base.with_name(base.name + "_tx"), base.with_name(base.name + "_rx"))
    for stem in stems:
        if any(p.exists() for p in bundle_paths(stem)) and not force:
            raise ConfigError(f"{stem} already holds a bundle; pass --force to replace it")
    card.pop("path")
    fingerprint = card.get("fingerprint") or codec.transmitter(state, {**card, "path": path}) \
        .fingerprint
    for side, stem in zip(("tx", "rx"), stems, strict=True):
        part = split_state(codec, state, side)
        drop = ("accuracy_vs_snr",) if side == "tx" else ()
        save_bundle(stem, part, {**{k: v for k, v in card.items()
                                    if k not in drop and k != "format"},
                                 "role": side, "fingerprint": fingerprint,
                                 "exported_from": str(path)})
    return stems

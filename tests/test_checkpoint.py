"""Model bundles: safetensors + JSON card round trip, no pickle, atomic writes, clear refusals."""

from __future__ import annotations

import json

import pytest
import torch

from phydnn.checkpoint import bundle_paths, load_bundle, load_card, save_bundle
from phydnn.errors import CheckpointError
from phydnn.models import build_backbone, load_backbone, save_backbone


def test_round_trip_gives_identical_predictions(tmp_path):
    net = build_backbone("resnet20", 1, 10).eval()
    card = {"backbone": "resnet20", "in_channels": 1, "num_classes": 10, "dataset": "digits"}
    save_backbone(tmp_path / "m", net, card)
    back, got = load_backbone(tmp_path / "m.safetensors")
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(back(x), net(x))
    assert got["kind"] == "backbone" and got["dataset"] == "digits"


def test_files_are_safetensors_and_json(tmp_path):
    save_bundle(tmp_path / "b", {"w": torch.ones(3)}, {"note": "x"})
    weights, card = bundle_paths(tmp_path / "b")
    header_len = int.from_bytes(weights.read_bytes()[:8], "little")
    assert json.loads(weights.read_bytes()[8:8 + header_len])["w"]["shape"] == [3]
    assert json.loads(card.read_text())["note"] == "x"


def test_a_pickle_is_refused(tmp_path):
    save_bundle(tmp_path / "b", {"w": torch.ones(3)}, {})
    torch.save({"w": torch.ones(3)}, tmp_path / "b.safetensors")  # a pickle in disguise
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_bundle(tmp_path / "b")


def test_foreign_json_is_refused(tmp_path):
    (tmp_path / "c.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a gr-phydnn model card"):
        load_card(tmp_path / "c")


def test_checkpoint_for_another_backbone_is_refused(tmp_path):
    card = {"backbone": "resnet20", "in_channels": 1, "num_classes": 10}
    save_backbone(tmp_path / "m", build_backbone("resnet20", 1, 10), card)
    with pytest.raises(CheckpointError, match="holds a resnet20"):
        load_backbone(tmp_path / "m", expect_backbone="resnet32")
    # weights that do not fit the card's backbone
    state, _ = load_bundle(tmp_path / "m")
    save_bundle(tmp_path / "bad", state, {**card, "backbone": "resnet32", "kind": "backbone"})
    with pytest.raises(CheckpointError, match="do not fit resnet32"):
        load_backbone(tmp_path / "bad")


def test_failed_write_keeps_the_old_bundle(tmp_path):
    save_bundle(tmp_path / "b", {"w": torch.ones(3)}, {"v": 1})
    with pytest.raises(TypeError):
        save_bundle(tmp_path / "b", {"w": torch.zeros(3)}, {"v": object()})
    state, card = load_bundle(tmp_path / "b")
    assert card["v"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.safetensors"]


def test_bundle_files_follow_the_umask(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        save_bundle(tmp_path / "b", {"w": torch.ones(1)}, {})
    finally:
        os.umask(old)
    for p in bundle_paths(tmp_path / "b"):
        assert p.stat().st_mode & 0o777 == 0o644

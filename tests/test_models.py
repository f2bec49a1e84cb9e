"""Backbones: sizes from He et al., exact head/tail splits, complexity counts, clear errors."""

from __future__ import annotations

import pytest
import torch

from phydnn.errors import ConfigError
from phydnn.models import (
    backbone_names,
    build_backbone,
    count_macs,
    count_params,
    split_complexity,
)

# Parameter counts of the CIFAR ResNets with option-A shortcuts (He et al., Table 6).
PARAMS_M = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85,
            "resnet110": 1.7}


@pytest.mark.parametrize("name", list(PARAMS_M))
def test_parameter_counts_match_the_paper(name):
    assert count_params(build_backbone(name)) / 1e6 == pytest.approx(PARAMS_M[name], abs=0.01 +
                                                                    0.02 * PARAMS_M[name])


def test_resnet20_macs_on_cifar():
    macs, out = count_macs(build_backbone("resnet20"), (3, 32, 32))
    assert out == (10,) and macs / 1e6 == pytest.approx(40.6, abs=0.5)


@pytest.mark.parametrize("channels,classes,size", [(1, 10, 28), (3, 100, 32), (1, 10, 8)])
def test_any_input_channels_and_classes(channels, classes, size):
    net = build_backbone("resnet20", channels, classes).eval()
    assert net(torch.randn(2, channels, size, size)).shape == (2, classes)


def test_tail_of_head_equals_full_model_bit_for_bit():
    net = build_backbone("resnet32", 1, 10)
    # non-trivial BN statistics so eval mode does real work
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 1, 28, 28))
    net.eval()
    x = torch.randn(5, 1, 28, 28)
    full = net(x)
    for split in net.split_points:
        head, tail = net.split(split)
        with torch.no_grad():
            assert torch.equal(tail(head(x)), full), split


def test_split_points_and_feature_shapes():
    net = build_backbone("resnet20", 3, 10).eval()
    assert {"stem", "stage1", "stage2", "stage1.block0", "stage1.block1",
            "stage1.block2"} <= set(net.split_points)
    head, _ = net.split("stage1")
    assert head(torch.zeros(1, 3, 32, 32)).shape == (1, 16, 32, 32)  # paper: 1024 positions
    head, _ = net.split("stage2")
    assert head(torch.zeros(1, 3, 32, 32)).shape == (1, 32, 16, 16)
    assert net.resolve_split("stage1") == net.resolve_split("stage1.block2")


def test_split_complexity_adds_up():
    net = build_backbone("resnet20", 3, 10)
    parts = split_complexity(*net.split("stage1"), (3, 32, 32))
    total_macs, _ = count_macs(net, (3, 32, 32))
    assert parts["head"].params + parts["tail"].params == count_params(net)
    assert parts["head"].macs + parts["tail"].macs == total_macs
    assert 0 < parts["head"].macs < parts["tail"].macs


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ConfigError, match="backbone='resnet18'.*resnet20"):
        build_backbone("resnet18")
    assert backbone_names() == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


def test_unknown_split_point_lists_the_choices():
    net = build_backbone("resnet20")
    with pytest.raises(ConfigError, match="split='stage3'.*stage1.block0"):
        net.split("stage3")


@pytest.mark.parametrize("kwargs,match", [({"in_channels": 0}, "in_channels="),
                                          ({"num_classes": -3}, "num_classes=")])
def test_bad_sizes_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_backbone("resnet20", **kwargs)


def test_wrong_input_shape_is_explained():
    with pytest.raises(ConfigError, match=r"\(N, 1, H, W\)"):
        build_backbone("resnet20", 1, 10)(torch.zeros(2, 3, 28, 28))

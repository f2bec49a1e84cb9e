"""Backbones (CIFAR ResNets) with named split points, and their complexity counts.

No GNU Radio here. Backbones are picked by name through :func:`build_backbone`.
"""

from phydnn.models.complexity import Complexity, count_macs, count_params, split_complexity
from phydnn.models.registry import backbone_names, build_backbone, register_backbone
from phydnn.models.resnet import RESNET_DEPTHS, BasicBlock, CifarResNet

__all__ = [
    "RESNET_DEPTHS",
    "BasicBlock",
    "CifarResNet",
    "Complexity",
    "backbone_names",
    "build_backbone",
    "count_macs",
    "count_params",
    "register_backbone",
    "split_complexity",
]

from phydnn.models.assignment import assign_constellation, fingerprint  # noqa: E402
from phydnn.models.bundle import (  # noqa: E402
    load_backbone,
    load_phydnn,
    save_backbone,
    save_phydnn,
)
from phydnn.models.codebook import EmbeddingCodebook, kmeans  # noqa: E402
from phydnn.models.phydnn_net import RECEIVERS, PhyDNN, build_phydnn  # noqa: E402

__all__ += ["RECEIVERS", "EmbeddingCodebook", "PhyDNN", "assign_constellation",
            "build_phydnn", "fingerprint", "kmeans", "load_backbone", "load_phydnn",
            "save_backbone", "save_phydnn"]

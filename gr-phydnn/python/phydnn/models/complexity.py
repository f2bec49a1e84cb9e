"""Parameter and MAC counts of a model or of its head and tail (paper Table III).

MACs count the multiply-accumulates of convolutions and linear layers for one input of the
given shape (batch-norm, ReLU, pooling and additions are not counted, the usual convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from phydnn.models.modes import eval_mode

__all__ = ["Complexity", "count_params", "count_macs", "split_complexity"]


@dataclass(frozen=True)
class Complexity:
    """Parameters and MACs of one part of a network for one input."""

    params: int
    macs: int


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``module``."""
    return sum(p.numel() for p in module.parameters())


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """MACs of one forward pass on a single input of ``input_shape`` (C, H, W), and the output
    shape (without the batch dimension)."""
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total += out.numel() * k
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with eval_mode(module), torch.no_grad():
            p = next(module.parameters(), None)
            device = p.device if p is not None else None
            out = module(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return total, tuple(out.shape[1:])


def split_complexity(head: nn.Module, tail: nn.Module,
                     input_shape: tuple[int, ...]) -> dict[str, Complexity]:
    """Complexity of head and tail for one input; the head's output shape feeds the tail."""
    head_macs, feat_shape = count_macs(head, input_shape)
    tail_macs, _ = count_macs(tail, feat_shape)
    return {"head": Complexity(count_params(head), head_macs),
            "tail": Complexity(count_params(tail), tail_macs)}

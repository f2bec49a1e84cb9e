"""Mode switches for modules: eval mode, and batch-norm running statistics.

Why the batch-norm helpers exist: during PhyDNN training the tail sees two inputs, the
channel path (embeddings looked up from received symbols) and the binding path T(H(x)) of
Eq. (9). Both run in train mode, so both used to move the tail's running statistics, and at
inference (eval mode, channel path only) the tail normalised with a blend of the two: on the
shipped Fashion-MNIST M=4 model that cost 3 to 5 points. The binding path now runs with the
statistics held (:func:`frozen_batchnorm_stats`), and :func:`batchnorm_layers` serves the
recalibration pass before every snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["batchnorm_layers", "eval_mode", "frozen_batchnorm_stats"]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(m):`` runs ``m`` in eval mode and restores its training flag after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every batch-norm layer inside ``module``."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def frozen_batchnorm_stats(module: nn.Module) -> Iterator[nn.Module]:
    """Batch norm still normalises with the batch's statistics in train mode (gradients as
    usual) but leaves the running mean and variance where they are (momentum 0)."""
    layers = batchnorm_layers(module)
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield module
    finally:
        for m, mom in zip(layers, saved, strict=True):
            m.momentum = mom

"""Accuracy of a classifier on a dataset, batched, without gradients."""

from __future__ import annotations

import torch
from torch import nn

from phydnn.data import ImageDataset, iterate_batches

__all__ = ["predict", "accuracy"]


@torch.no_grad()
def predict(model: nn.Module, data: ImageDataset, batch_size: int = 500,
            device: str = "cpu") -> torch.Tensor:
    """Predicted labels for every image of ``data`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    preds = [model(x.to(device)).argmax(1).cpu() for x, _ in iterate_batches(data, batch_size)]
    model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)


def accuracy(model: nn.Module, data: ImageDataset, batch_size: int = 500,
             device: str = "cpu") -> float:
    """Top-1 accuracy in [0, 1]."""
    return float((predict(model, data, batch_size, device) == data.labels).float().mean())

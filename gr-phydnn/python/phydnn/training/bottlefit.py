"""Two-stage BottleFit training of a bottleneck split (the BF-1 / BF-2 baselines, paper 003
Sec. IV-B; BottleFit = ref. [22], Matsubara et al. 2022).

Stage 1 (head-network distillation): the pretrained units before the encoder stay frozen;
encoder and decoder learn to reproduce the teacher's split-point features,
``MSE(decoder(encoder(h)), teacher_head(x))``.
Stage 2 (knowledge distillation): the head (what the mobile device runs) is frozen; decoder
and tail are fine-tuned with ``alpha * CE(y) + (1 - alpha) * T^2 * KL(teacher || student)``
at temperature T (Hinton et al.), the teacher being the unsplit pretrained backbone.

The result is a bundle (``kind: bottlefit``) whose card records the width, the float32 bytes
per image the head sends, the test accuracy next to the teacher's, the time and the command.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from phydnn.checkpoint import load_bundle, save_bundle
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import CheckpointError, ConfigError, check_non_negative, check_positive
from phydnn.models import build_backbone, count_params, load_backbone
from phydnn.models.bottleneck import BottleneckSplit
from phydnn.models.modes import eval_mode
from phydnn.training.evaluate import accuracy
from phydnn.training.progress import progress
from phydnn.training.records import provenance, refuse_overwrite

__all__ = ["BottleFitConfig", "load_bottlefit", "train_bottlefit"]


@dataclass
class BottleFitConfig:
    """Settings of ``phydnn bottlefit``; every field is a command-line option."""

    pretrained: str = "models/fmnist_resnet20"
    width: int = 1
    split: str = "stage1"
    epochs_stage1: int = 2
    epochs_stage2: int = 3
    batch_size: int = 128
    lr_stage1: float = 1e-3
    lr_stage2: float = 1e-3
    alpha: float = 0.5
    temperature: float = 4.0
    train_subset: int = 0
    seed: int = 0
    threads: int = 0
    data_root: str | None = None
    out: str = "models/fmnist_resnet20_bottlefit_w1"
    force: bool = False
    command: str = field(default="", repr=False)

    def check(self) -> None:
        check_positive("width", self.width, integer=True)
        for name in ("epochs_stage1", "epochs_stage2", "train_subset", "threads"):
            check_non_negative(name, getattr(self, name), integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("lr_stage1", self.lr_stage1)
        check_positive("lr_stage2", self.lr_stage2)
        check_positive("temperature", self.temperature)
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha={self.alpha} is not allowed; it must be in [0, 1]")
        refuse_overwrite(self.out, self.force)


def _batches(data: ImageDataset, cfg: BottleFitConfig, gen: torch.Generator, desc: str):
    steps = num_batches(len(data), cfg.batch_size, drop_last=True)
    return progress(iterate_batches(data, cfg.batch_size, shuffle=True, augment=True,
                                    generator=gen, drop_last=True), total=steps, desc=desc)


def _fit(params: list[nn.Parameter], loss_fn, train: ImageDataset, cfg: BottleFitConfig,
         gen: torch.Generator, epochs: int, lr: float, stage: str, cosine: bool = False
         ) -> list[float]:
    """Adam on ``params`` for ``epochs`` over ``train``, minimising ``loss_fn(x, y)``
    (optionally with a cosine learning-rate decay); returns the mean loss of every epoch."""
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * num_batches(len(train), cfg.batch_size, drop_last=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1)) if cosine else None
    losses = []
    for epoch in range(epochs):
        total, seen = 0.0, 0
        for x, y in _batches(train, cfg, gen, f"{stage} epoch {epoch + 1}"):
            loss = loss_fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total, seen = total + loss.item() * len(x), seen + len(x)
        losses.append(total / max(seen, 1))
        print(f"{stage} epoch {epoch + 1}: loss {losses[-1]:.4f}", flush=True)
    return losses


def _stage1(student: BottleneckSplit, teacher_head: nn.Module, train: ImageDataset,
            cfg: BottleFitConfig, gen: torch.Generator) -> list[float]:
    """Head-network distillation: encoder + decoder mimic the teacher's split features."""
    encoder, decoder = student.head[-1], student.tail[0]

    def loss(x: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher_head(x)
            h = student.frozen_prefix()(x)
        return F.mse_loss(decoder(encoder(h)), target)

    return _fit([*encoder.parameters(), *decoder.parameters()], loss, train, cfg, gen,
                cfg.epochs_stage1, cfg.lr_stage1, "stage 1 (feature MSE)")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float, temperature: float) -> torch.Tensor:
    """alpha * CE + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)) (Hinton et al.)."""
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(F.log_softmax(student_logits / temperature, 1),
                  F.log_softmax(teacher_logits / temperature, 1), log_target=True,
                  reduction="batchmean")
    return alpha * ce + (1.0 - alpha) * temperature ** 2 * kl


def _stage2(student: BottleneckSplit, teacher: nn.Module, train: ImageDataset,
            cfg: BottleFitConfig, gen: torch.Generator) -> list[float]:
    """Knowledge distillation into decoder + tail with the head frozen."""
    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(x)
            z = student.head(x)
        return kd_loss(student.tail(z), t_logits, y, cfg.alpha, cfg.temperature)

    return _fit(list(student.tail.parameters()), loss, train, cfg, gen, cfg.epochs_stage2,
                cfg.lr_stage2, "stage 2 (KD loss)", cosine=True)


def _freeze(module: nn.Module, frozen: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(not frozen)


def train_bottlefit(cfg: BottleFitConfig) -> dict[str, Any]:
    """Train a BF-``width`` baseline from ``cfg.pretrained``; returns its model card."""
    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    teacher, tcard = load_backbone(cfg.pretrained)
    train = load_dataset(tcard["dataset"], "train", cfg.data_root)
    test = load_dataset(tcard["dataset"], "test", cfg.data_root)
    if cfg.train_subset:
        train = train.subset(cfg.train_subset)
    student = BottleneckSplit(teacher, cfg.width, cfg.split)
    teacher_head, _ = teacher.split(cfg.split)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    student.train()
    _freeze(student, True)
    _freeze(student.head[-1], False)
    _freeze(student.tail[0], False)
    student.frozen_prefix().eval()
    mse = _stage1(student, teacher_head, train, cfg, gen)
    _freeze(student, False)
    _freeze(student.head, True)
    student.head.eval()
    kd = _stage2(student, teacher, train, cfg, gen)
    elapsed = time.perf_counter() - t0
    student.eval()
    card = _card(cfg, tcard, student, test, mse, kd, elapsed)
    save_bundle(cfg.out, student.state_dict(), card)
    return card


def _card(cfg: BottleFitConfig, tcard: dict[str, Any], student: BottleneckSplit,
          test: ImageDataset, mse: list[float], kd: list[float], elapsed: float
          ) -> dict[str, Any]:
    c, h, w = test.input_shape
    with torch.no_grad(), eval_mode(student):
        feature_shape = tuple(student.head(torch.zeros(1, c, h, w)).shape[1:])
    config = asdict(cfg)
    config.pop("command")
    return {
        "kind": "bottlefit", "backbone": tcard["backbone"], "in_channels": c,
        "num_classes": tcard["num_classes"], "dataset": tcard["dataset"],
        "input_shape": [c, h, w], "mean": tcard.get("mean"), "std": tcard.get("std"),
        "split": cfg.split, "width": cfg.width, "feature_shape": list(feature_shape),
        "bytes_per_image": 4 * int(torch.tensor(feature_shape).prod()),
        "test_accuracy": round(accuracy(student, test), 4), "test_images": len(test),
        "teacher": cfg.pretrained, "teacher_accuracy": tcard.get("test_accuracy"),
        "params_head": count_params(student.head), "params_tail": count_params(student.tail),
        "stage1_feature_mse": [round(v, 5) for v in mse],
        "stage2_kd_loss": [round(v, 5) for v in kd],
        "training_time_s": round(elapsed, 1),
        **provenance(cfg.command or "phydnn bottlefit", config),
    }


def load_bottlefit(path: str | Path, device: str = "cpu") -> tuple[BottleneckSplit, dict]:
    """Rebuild a BottleFit baseline from its card and load its weights strictly (eval mode)."""
    state, card = load_bundle(path, device)
    if card.get("kind") != "bottlefit":
        raise CheckpointError(f"{path} is a {card.get('kind', 'unknown')!r} bundle, not a "
                              f"BottleFit baseline (make one with 'phydnn bottlefit')")
    backbone = build_backbone(card["backbone"], int(card["in_channels"]),
                              int(card["num_classes"]))
    model = BottleneckSplit(backbone, int(card["width"]), card["split"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit a {card['backbone']} bottleneck of "
                              f"width {card['width']} at {card['split']}")
    return model.to(device).eval(), card

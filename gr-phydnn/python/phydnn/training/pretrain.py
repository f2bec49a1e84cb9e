"""Backbone pretraining from scratch (the 'pretrained DNN' that PhyDNN fine-tuning starts from).

Paper 003, Sec. III: PhyDNNs adapt an already trained classifier. Here we train it: SGD with
Nesterov momentum, weight decay and a one-cycle learning-rate schedule, with the dataset's usual
augmentation. Every epoch appends a row to ``<out>.metrics.csv`` and writes a resume point
(``<out>.resume.safetensors`` + ``.json``: weights, momentum buffers, epoch); ``resume=True``
continues from it. The final bundle's card records the command, data, time and accuracy.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from phydnn.checkpoint import bundle_paths, load_bundle, save_bundle
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import ConfigError, check_non_negative, check_positive
from phydnn.models import build_backbone, count_params, save_backbone
from phydnn.training.evaluate import accuracy
from phydnn.training.progress import progress
from phydnn.training.records import drop_resume, provenance, refuse_overwrite

__all__ = ["PretrainConfig", "pretrain"]


@dataclass
class PretrainConfig:
    """Settings of ``phydnn pretrain``; every field is a command-line option."""

    dataset: str = "fashion-mnist"
    backbone: str = "resnet20"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    threads: int = 0
    out: str = "models/fmnist_resnet20"
    data_root: str | None = None
    train_subset: int = 0
    resume: bool = False
    force: bool = False
    command: str = field(default="", repr=False)

    def check(self) -> None:
        check_positive("epochs", self.epochs, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("lr", self.lr)
        check_non_negative("momentum", self.momentum)
        check_non_negative("weight_decay", self.weight_decay)
        check_non_negative("threads", self.threads, integer=True)
        check_non_negative("train_subset", self.train_subset, integer=True)


def _resume_path(cfg: PretrainConfig) -> Path:
    return Path(str(cfg.out) + ".resume")


def _save_resume(cfg: PretrainConfig, model: nn.Module, opt: torch.optim.Optimizer,
                 epoch: int, elapsed: float) -> None:
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            buf = opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                state[f"opt.{i}.{j}"] = buf
    save_bundle(_resume_path(cfg), state, {"kind": "resume", "epoch": epoch,
                                           "elapsed_s": elapsed, "config": _card_config(cfg)})


def _load_resume(cfg: PretrainConfig, model: nn.Module, opt: torch.optim.Optimizer
                 ) -> tuple[int, float]:
    state, card = load_bundle(_resume_path(cfg))
    if card.get("config", {}).get("backbone") != cfg.backbone or \
            card.get("config", {}).get("dataset") != cfg.dataset:
        raise ConfigError(f"the resume point at {_resume_path(cfg)} is for another backbone or "
                          f"dataset; remove it or drop --resume")
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            if f"opt.{i}.{j}" in state:
                opt.state[p]["momentum_buffer"] = state[f"opt.{i}.{j}"].clone()
    return int(card["epoch"]), float(card["elapsed_s"])


def _card_config(cfg: PretrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d.pop("command")
    return d


def _train_epoch(model: nn.Module, data: ImageDataset, opt: torch.optim.Optimizer,
                 sched: torch.optim.lr_scheduler.LRScheduler, cfg: PretrainConfig,
                 gen: torch.Generator, desc: str) -> tuple[float, float]:
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    steps = num_batches(len(data), cfg.batch_size, drop_last=True)
    bar = progress(iterate_batches(data, cfg.batch_size, shuffle=True, augment=True,
                                   generator=gen, drop_last=True), total=steps, desc=desc)
    for x, y in bar:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total_loss += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Train ``cfg.backbone`` on ``cfg.dataset`` from scratch; returns the model card."""
    cfg.check()
    refuse_overwrite(cfg.out, cfg.force, cfg.resume)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train, test = load_dataset(cfg.dataset, "train", cfg.data_root), \
        load_dataset(cfg.dataset, "test", cfg.data_root)
    if cfg.train_subset:
        train = train.subset(cfg.train_subset)
    model = build_backbone(cfg.backbone, train.input_shape[0], train.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    steps = num_batches(len(train), cfg.batch_size, drop_last=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                steps_per_epoch=steps, pct_start=0.25)
    start, elapsed = 0, 0.0
    if cfg.resume and bundle_paths(_resume_path(cfg))[1].exists():
        start, elapsed = _load_resume(cfg, model, opt)
        for _ in range(start * steps):
            sched.step()
    metrics = Path(str(cfg.out) + ".metrics.csv")
    metrics.parent.mkdir(parents=True, exist_ok=True)
    if start == 0:
        metrics.write_text("epoch,train_loss,train_acc,test_acc,lr,seconds\n")
    gen = torch.Generator().manual_seed(cfg.seed)
    loss = 0.0  # a resume point after the last epoch trains nothing more
    for epoch in range(start, cfg.epochs):
        gen.manual_seed(cfg.seed * 1000 + epoch)
        t0 = time.perf_counter()
        loss, train_acc = _train_epoch(model, train, opt, sched, cfg, gen,
                                       f"epoch {epoch + 1}/{cfg.epochs}")
        test_acc = accuracy(model, test)
        elapsed += time.perf_counter() - t0
        with metrics.open("a", newline="") as f:
            csv.writer(f).writerow([epoch + 1, f"{loss:.4f}", f"{train_acc:.4f}",
                                    f"{test_acc:.4f}", f"{sched.get_last_lr()[0]:.5f}",
                                    f"{elapsed:.1f}"])
        print(f"epoch {epoch + 1}: loss {loss:.4f}, train {train_acc:.4f}, "
              f"test {test_acc:.4f}, {elapsed:.0f} s", flush=True)
        _save_resume(cfg, model, opt, epoch + 1, elapsed)
    if not math.isfinite(loss):
        raise ConfigError("training diverged (loss is not finite); lower --lr")
    test_acc = accuracy(model, test)
    card = {
        "backbone": cfg.backbone, "in_channels": train.input_shape[0],
        "num_classes": train.num_classes, **train.card(),
        "params": count_params(model),
        "test_accuracy": round(test_acc, 4), "test_images": len(test),
        "train_images": len(train), "epochs": cfg.epochs,
        "training_time_s": round(elapsed, 1),
        **provenance(cfg.command or "phydnn pretrain", _card_config(cfg)),
    }
    save_backbone(cfg.out, model, card)
    drop_resume(_resume_path(cfg))
    return card

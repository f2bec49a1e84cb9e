"""PhyDNN fine-tuning from a pretrained backbone (paper 003, Sec. III-C, Alg. 1).

Loss per mini-batch (Eq. 7-9)::

    L = 1/N_mc sum_j CE(T(lookup(g_m(h_m(z_j) + eps_j))), y)     through the channel
        + beta * sum_i H(z_i | x)                                  conditional entropy
        + CE(T(H(x)), y)                                           binding loss, Eq. (9)

with z_j straight-through Gumbel-softmax samples. The codebook starts at k-means centroids of
head-output slices; the backbone is frozen for ``freeze_epochs`` and then trained at a lower
learning rate than the embeddings; beta grows linearly by ``beta_growth`` over the run; at each
of ``prune_epochs`` the least-used embeddings are removed down to the next M of ``prune_path``
and the constellation map is recomputed. Before each pruning step, and at the end, the model
is saved as ``<out>_m<M>`` so every M on the path ships as its own bundle.

``init`` continues from a PhyDNN bundle instead (its codebook, map and weights; same backbone,
dataset, split and M); with ``train_parts = "tail"`` the head and codebook stay as they are,
so the transmitter, its symbols and the model fingerprint do not change, and only the tail
learns (after ``freeze_epochs``): a receiver-side stage, for example to train the tail for
the soft lookup.

Runs alone or under ``torchrun`` (DistributedDataParallel, gloo on CPU): ranks shard the
batches, gradients are averaged by DDP, rank 0 writes files. Every epoch writes a resume
point (weights, M, epoch); ``--resume`` continues from it with fresh optimiser moments.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from phydnn import __version__
from phydnn.checkpoint import bundle_paths, load_bundle, save_bundle
from phydnn.codecs.e2e import TaskTarget
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import CheckpointError, ConfigError
from phydnn.models import (
    PhyDNN,
    build_phydnn,
    kmeans,
    load_backbone,
    load_phydnn,
    save_phydnn,
    split_complexity,
)
from phydnn.phy import ChannelSpec, snr_db_to_noise_var
from phydnn.training.config import FinetuneConfig
from phydnn.training.evaluate import codebook_usage, link_accuracy, source_statistics
from phydnn.training.progress import progress
from phydnn.training.recalibrate import recalibrate_tail_batchnorm
from phydnn.training.records import drop_resume

__all__ = ["CARD_SNRS", "evaluate_into_card", "finetune", "snapshot_path"]

CARD_SNRS = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
PRIOR_IMAGES = 10_000   # training images over which the soft receiver's prior is counted


def snapshot_path(cfg: FinetuneConfig, order: int) -> str:
    """Bundle path of the model at codebook size ``order``: <out>_m<M>."""
    return f"{cfg.out}_m{order}"


def _rank_world() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


def _refuse_overwrite(cfg: FinetuneConfig, resume: bool, force: bool) -> None:
    if resume or force:
        return
    taken = [snapshot_path(cfg, m) for m in cfg.path
             if any(p.exists() for p in bundle_paths(snapshot_path(cfg, m)))]
    if taken:
        raise ConfigError(f"out={cfg.out!r}: {taken[0]} already exists; pass --force to "
                          f"replace it or choose another --out")


def _init_codebook(model: PhyDNN, train: ImageDataset, cfg: FinetuneConfig) -> None:
    """k-means centroids of head-output slices over training images (Sec. III-B)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    slices = []
    model.eval()
    with torch.no_grad():
        for x, _ in iterate_batches(train.subset(cfg.kmeans_images), 500):
            f = model.head(x)
            slices.append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]))
    pts = torch.cat(slices)
    pts = pts[torch.randperm(len(pts), generator=gen)[:cfg.kmeans_slices]]
    model.codebook.embeddings.data.copy_(kmeans(pts, model.order, generator=gen))
    model.reassign_constellation()


def _trained_parts(model: PhyDNN, cfg: FinetuneConfig) -> tuple[nn.Module, ...]:
    """The backbone parts that learn once unfrozen: head and tail, or the tail alone."""
    return (model.tail,) if cfg.train_parts == "tail" else (model.head, model.tail)


def _set_frozen(model: PhyDNN, cfg: FinetuneConfig, frozen: bool) -> None:
    learning = () if frozen else _trained_parts(model, cfg)
    for part in (model.head, model.tail):
        part.requires_grad_(part in learning)
        part.train(part in learning)  # a frozen part keeps its batch-norm statistics too
    model.codebook.embeddings.requires_grad_(cfg.train_parts == "all")


def _optimizer(model: PhyDNN, cfg: FinetuneConfig, frozen: bool) -> torch.optim.Optimizer:
    groups: list[dict[str, Any]] = []
    if cfg.train_parts == "all":
        groups.append({"params": [model.codebook.embeddings], "lr": cfg.lr_embeddings,
                       "base_lr": cfg.lr_embeddings})
    if not frozen:
        backbone = [p for part in _trained_parts(model, cfg) for p in part.parameters()]
        groups.append({"params": backbone, "lr": cfg.lr_backbone, "base_lr": cfg.lr_backbone})
    return torch.optim.Adam(groups)  # never empty: the config refuses a frozen tail-only epoch


def _wrap(model: PhyDNN, world: int) -> nn.Module:
    if world == 1:
        return model
    return nn.parallel.DistributedDataParallel(model)


def _noise_var(cfg: FinetuneConfig, n: int) -> torch.Tensor:
    if cfg.snr_spread_db == 0:
        return torch.full((n,), snr_db_to_noise_var(cfg.snr_db))
    snr = cfg.snr_db + (torch.rand(n) * 2 - 1) * cfg.snr_spread_db
    return 10.0 ** (-snr / 10.0)


class _Run:
    """State of one fine-tuning run: the model, data, schedule and bookkeeping."""

    def __init__(self, cfg: FinetuneConfig, command: str, resume: bool) -> None:
        self.cfg, self.command, self.resume = cfg, command, resume
        self.channel = cfg.channel_spec()
        self.rank, self.world = _rank_world()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed * 100 + self.rank)
        backbone, self.pre_card = load_backbone(cfg.pretrained, expect_backbone=cfg.backbone)
        if self.pre_card.get("dataset") != cfg.dataset:
            raise CheckpointError(f"{cfg.pretrained} was trained on "
                                  f"{self.pre_card.get('dataset')!r}, not on {cfg.dataset!r}")
        self.backbone_name = self.pre_card["backbone"]
        self.train = load_dataset(cfg.dataset, "train", cfg.data_root or None)
        self.test = load_dataset(cfg.dataset, "test", cfg.data_root or None)
        if cfg.train_subset:
            self.train = self.train.subset(cfg.train_subset)
        self.teacher = None
        if cfg.distill > 0:  # a frozen copy of the unsplit backbone, before the split shares it
            self.teacher = copy.deepcopy(backbone).eval().requires_grad_(False)
        self.init_card: dict[str, Any] | None = None
        if cfg.init:
            self.model, self.init_card = self._load_init()
        else:
            self.model = build_phydnn(backbone, cfg.split, cfg.M, self.train.input_shape,
                                      cfg.scoring)
        self.start_epoch, self.elapsed = 0, 0.0
        self.steps_per_epoch = num_batches(len(self.train), cfg.batch_size, self.world, True)
        self.metrics = Path(f"{cfg.out}.metrics.csv")
        self.resume_path = f"{cfg.out}.resume"
        self._opt_key: tuple[bool, int] | None = None
        self._opt: torch.optim.Optimizer | None = None
        self._net: nn.Module | None = None
        self._prior_counted = False

    def _load_init(self) -> tuple[PhyDNN, dict[str, Any]]:
        """The PhyDNN bundle to continue from, refused unless it fits this run."""
        cfg = self.cfg
        model, card = load_phydnn(cfg.init, expect={"backbone": cfg.backbone,
                                                    "dataset": cfg.dataset,
                                                    "split": cfg.split})
        if int(card["M"]) != cfg.M:
            raise ConfigError(f"M={cfg.M} is not allowed with init={cfg.init!r}: that model "
                              f"has M={card['M']}; set M={card['M']}")
        return model, card

    # --- bookkeeping ------------------------------------------------------------------
    def card_base(self) -> dict[str, Any]:
        init = {}
        if self.init_card is not None:  # the stage before this one, for the model card
            init = {"init": {"bundle": self.cfg.init, "command": self.init_card.get("command"),
                             "training_time_s": self.init_card.get("training_time_s")}}
        return {"backbone": self.backbone_name, "in_channels": self.train.input_shape[0],
                "num_classes": self.train.num_classes, **self.train.card(),
                "split": self.cfg.split, "feature_shape": list(self.model.feature_shape),
                "positions_per_image": self.model.positions_per_image,
                "pretrained": self.cfg.pretrained,
                "pretrained_accuracy": self.pre_card.get("test_accuracy"),
                "train_snr_db": self.cfg.snr_db, "train_snr_spread_db": self.cfg.snr_spread_db,
                "train_channel": self.channel.as_dict(),
                "config": self.cfg.as_dict(), "command": self.command,
                "gr_phydnn_version": __version__, **init}

    def save_resume(self, epoch: int) -> None:
        if self.rank == 0:
            save_bundle(self.resume_path, self.model.state_dict(),
                        {"kind": "resume", "epoch": epoch, "M": self.model.order,
                         "elapsed_s": self.elapsed, "config": self.cfg.as_dict()})

    def load_resume(self) -> None:
        state, card = load_bundle(self.resume_path)
        made, defaults = card["config"], FinetuneConfig()   # older resume points lack new keys
        same = {k: made.get(k, getattr(defaults, k)) == getattr(self.cfg, k)
                for k in ("pretrained", "init", "train_parts", "backbone", "dataset", "split",
                          "M", "prune_path")}
        if not all(same.values()):
            bad = [k for k, ok in same.items() if not ok][0]
            raise ConfigError(f"the resume point {self.resume_path} was made with another "
                              f"{bad}; remove it or drop --resume")
        backbone, _ = load_backbone(self.cfg.pretrained)
        self.model = build_phydnn(backbone, self.cfg.split, int(card["M"]),
                                  self.train.input_shape, self.cfg.scoring)
        self.model.load_state_dict(state)
        self.start_epoch, self.elapsed = int(card["epoch"]), float(card["elapsed_s"])

    def log_row(self, row: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        new = not self.metrics.exists() or self.start_epoch == 0 and row["epoch"] == 1
        with self.metrics.open("w" if new else "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    # --- training -----------------------------------------------------------------------
    def beta(self, step: int) -> float:
        total = max(self.cfg.epochs * self.steps_per_epoch - 1, 1)
        return self.cfg.beta_start * (1 + (self.cfg.beta_growth - 1) * step / total)

    @torch.no_grad()
    def teacher_probs(self, x: torch.Tensor) -> torch.Tensor | None:
        """Softened class probabilities of the frozen unsplit backbone (distillation)."""
        if self.teacher is None:
            return None
        return F.softmax(self.teacher(x) / self.cfg.distill_temperature, 1)

    def task_loss(self, logits: torch.Tensor, y: torch.Tensor,
                  target: torch.Tensor | None) -> torch.Tensor:
        """Cross-entropy through the channel (Eq. 7), optionally mixed with distillation from
        the unsplit backbone (:class:`~phydnn.codecs.e2e.TaskTarget`)."""
        return TaskTarget(y, target, self.cfg.distill, self.cfg.distill_temperature).loss(logits)

    def lr_scale(self, step: int) -> float:
        """1 for a constant schedule; 0.5 (1 + cos(pi t / T)) over all steps for cosine."""
        if self.cfg.lr_schedule == "constant":
            return 1.0
        total = max(self.cfg.epochs * self.steps_per_epoch, 1)
        return 0.5 * (1 + math.cos(math.pi * step / total))

    def update_prior(self) -> None:
        """The soft receiver's source model: how often the transmitter sends each embedding,
        and next to which, over the first training images (the same images on every DDP
        rank). Counted once when only the tail trains: the transmitter does not change then."""
        if self.cfg.train_parts == "tail" and self._prior_counted:
            return
        self.model.set_prior(*source_statistics(self.model, self.train.subset(PRIOR_IMAGES)))
        self._prior_counted = True

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        frozen = epoch < cfg.freeze_epochs
        self.update_prior()       # the soft lookups of this epoch use the current usage
        self.model.train()
        _set_frozen(self.model, cfg, frozen)
        if self._opt_key != (frozen, self.model.order):  # new trainable set: unfreeze, prune
            self._opt_key = (frozen, self.model.order)
            self._opt = _optimizer(self.model, cfg, frozen)
            self._net = _wrap(self.model, self.world)
        opt, net = self._opt, self._net
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        sums = {"loss": 0.0, "ce": 0.0, "entropy": 0.0, "bind": 0.0, "ser": 0.0, "acc": 0.0}
        batches = iterate_batches(self.train, cfg.batch_size, shuffle=True, augment=True,
                                  generator=gen, rank=self.rank, world_size=self.world,
                                  drop_last=True)
        bar = progress(batches, total=self.steps_per_epoch,
                       desc=f"epoch {epoch + 1}/{cfg.epochs} M={self.model.order}",
                       disable=self.rank != 0)
        beta = 0.0
        for i, (x, y) in enumerate(bar):
            step = epoch * self.steps_per_epoch + i
            beta = self.beta(step)
            for group in opt.param_groups:
                group["lr"] = group.get("base_lr", 0.0) * self.lr_scale(step)
            ce = torch.zeros(())
            target = self.teacher_probs(x)
            for _ in range(cfg.n_mc):
                soft = bool(torch.rand(()) < cfg.soft_fraction)
                out = net(x, _noise_var(cfg, len(y)), cfg.tau, soft, cfg.gumbel, self.channel)
                ce = ce + self.task_loss(out["logits"], y, target) / cfg.n_mc
            bind = F.cross_entropy(out["bind_logits"], y)
            loss = ce + beta * out["entropy"] + bind
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for key, v in (("loss", loss), ("ce", ce), ("entropy", out["entropy"]),
                           ("bind", bind), ("ser", out["symbol_errors"])):
                sums[key] += v.item()
            sums["acc"] += (out["logits"].argmax(1) == y).float().mean().item()
            bar.set_postfix(loss=f"{sums['loss'] / (i + 1):.3f}",
                            acc=f"{sums['acc'] / (i + 1):.3f}", refresh=False)
        if self.world > 1:  # batch-norm statistics moved apart in the last forward passes
            for buf in self.model.buffers():
                dist.broadcast(buf, 0)
        n = max(self.steps_per_epoch, 1)
        return {**{k: v / n for k, v in sums.items()}, "beta": beta}

    def prune(self, new_order: int) -> None:
        usage = codebook_usage(self.model, self.train)
        if self.world > 1:
            dist.all_reduce(usage)
        kept = self.model.prune(usage, new_order)
        if self.rank == 0:
            share = float(usage[kept].sum()) / max(float(usage.sum()), 1.0)
            print(f"pruned to M={new_order}: kept embeddings {kept.tolist()} "
                  f"carrying {share * 100:.1f} % of the symbols", flush=True)

    def run(self) -> list[str]:
        cfg = self.cfg
        if self.resume and bundle_paths(self.resume_path)[1].exists():
            self.load_resume()
        elif not cfg.init:
            _init_codebook(self.model, self.train, cfg)
        val = self.test.subset(cfg.eval_images)
        saved: list[str] = []
        for epoch in range(self.start_epoch, cfg.epochs):
            if epoch in cfg.prune_epochs:
                nxt = cfg.prune_path[cfg.prune_epochs.index(epoch)]
                if self.model.order > nxt:
                    if epoch > 0:   # at epoch 0 (init) the model before pruning is init's
                        saved.append(self.save_snapshot())
                    self.prune(nxt)
            t0 = time.perf_counter()
            stats = self.train_epoch(epoch)
            self.elapsed += time.perf_counter() - t0
            acc = (link_accuracy(self.model, val, [cfg.snr_db], channel=self.channel)
                   if self.rank == 0 else {})
            at = acc.get(f"{float(cfg.snr_db):.1f}", {})
            self.log_row({"epoch": epoch + 1, "M": self.model.order,
                          **{k: f"{v:.5g}" for k, v in stats.items()},
                          "val_hard": f"{at.get('hard', 0):.4f}",
                          "val_soft": f"{at.get('soft', 0):.4f}",
                          "seconds": f"{self.elapsed:.1f}"})
            if self.rank == 0:
                print(f"epoch {epoch + 1}: M={self.model.order} loss {stats['loss']:.4f} "
                      f"SER {stats['ser']:.4f} val@{cfg.snr_db:g}dB hard {at.get('hard', 0):.4f}"
                      f" soft {at.get('soft', 0):.4f} ({self.elapsed:.0f} s)", flush=True)
            self.save_resume(epoch + 1)
        self.check_ranks_agree()
        saved.append(self.save_snapshot())
        if self.rank == 0:
            drop_resume(self.resume_path)
        return saved

    def check_ranks_agree(self) -> None:
        """Under DDP every rank must end with the same weights: compare a checksum."""
        if self.world == 1:
            return
        flat = torch.cat([v.detach().double().flatten()
                          for v in self.model.state_dict().values()])
        mine = torch.stack([flat.sum(), (flat * torch.arange(len(flat), dtype=flat.dtype)
                                          .remainder(97)).sum()])
        every = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        agree = all(torch.equal(e, every[0]) for e in every)
        if self.rank == 0:
            print(f"DDP: {self.world} ranks, identical weights on every rank: {agree}",
                  flush=True)
        if not agree:
            raise RuntimeError("DDP ranks ended with different weights")

    def save_snapshot(self) -> str:
        """Save the model at its current M (rank 0; weights identical on every rank)."""
        path = snapshot_path(self.cfg, self.model.order)
        self.update_prior()
        if self.cfg.bn_images:
            recalibrate_tail_batchnorm(self.model, self.train, self.cfg.snr_db,
                                       self.cfg.snr_spread_db, self.cfg.soft_fraction,
                                       self.cfg.bn_images, seed=self.cfg.seed,
                                       channel=self.channel)
        if self.rank == 0:
            save_phydnn(path, self.model, {**self.card_base(),
                                           "training_time_s": round(self.elapsed, 1)})
        return path


def evaluate_into_card(path: str, data: ImageDataset, snrs: list[float] = CARD_SNRS,
                       seed: int = 0) -> dict[str, Any]:
    """Measure accuracy vs SNR (hard and soft) on ``data`` and write it into the model card:
    on AWGN always, and on the training channel too when that is another one."""
    model, card = load_phydnn(path)
    t0 = time.perf_counter()
    table = link_accuracy(model, data, snrs, seed=seed)
    channel = ChannelSpec.from_dict(card.get("train_channel", {}))
    if not channel.is_awgn:
        card["accuracy_vs_snr_train_channel"] = link_accuracy(model, data, snrs, seed=seed,
                                                              channel=channel)
    parts = split_complexity(model.head, model.tail, tuple(card["input_shape"]))
    card.update({
        "accuracy_vs_snr": table,
        "eval_images": len(data), "eval_seed": seed,
        "eval_time_s": round(time.perf_counter() - t0, 1),
        "bits_per_image": model.bits_per_image,
        "bytes_per_image": model.bits_per_image / 8,
        "head": {"params": parts["head"].params, "macs": parts["head"].macs},
        "tail": {"params": parts["tail"].params, "macs": parts["tail"].macs},
    })
    save_phydnn(path, model, card)
    return load_phydnn(path)[1]


def finetune(cfg: FinetuneConfig, command: str = "phydnn train", resume: bool = False,
             force: bool = False) -> list[dict[str, Any]]:
    """Fine-tune, save a bundle per M on the pruning path, evaluate each into its card.

    Refuses to overwrite existing bundles at ``cfg.out`` unless ``force`` (or ``resume``).
    """
    _refuse_overwrite(cfg, resume, force)
    run = _Run(cfg, command, resume)
    paths = run.run()
    cards: list[dict[str, Any]] = []
    if run.rank == 0:
        snrs = sorted({*CARD_SNRS, float(cfg.snr_db)})   # and the training SNR, reported
        for p in paths:
            cards.append(evaluate_into_card(p, run.test, snrs))
            print(f"wrote {p}.safetensors / .json", flush=True)
    if run.world > 1:
        dist.barrier()
    return cards

"""Training of the codecs that learn end to end from scratch (DT-JSCC, DeepJSCC; the channel
in the graph), as ``phydnn train-codec``.

The network (its codec's :meth:`~phydnn.codecs.e2e.EndToEndCodec.build`) is trained with
AdamW and a one-cycle schedule on cross-entropy plus ``beta`` times its regulariser, each
image through the channel at an Es/N0 drawn uniformly from [snr_low, snr_high] dB. A
validation split of ``val_images`` is carved from the *training* set (a seeded permutation);
the epoch with the best validation accuracy at ``val_snr`` is the one saved, and the test set
only produces the card's accuracy-vs-Es/N0 table. The weights are stored in float16 (half
the size; the network computes in float32) and measured as stored. Every epoch appends a row to
``OUT.metrics.csv`` and writes a resume point (``--resume``; the optimiser's moments restart).
"""

from __future__ import annotations

import copy
import csv
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from phydnn.checkpoint import bundle_paths, load_bundle, save_bundle
from phydnn.codecs.e2e import EndToEndCodec, TaskTarget
from phydnn.codecs.registry import get_codec
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import ConfigError, check_choice, check_non_negative, check_positive
from phydnn.link.payload import symbols_per_image
from phydnn.models import count_macs, count_params
from phydnn.phy.channel import snr_db_to_noise_var
from phydnn.training.finetune import CARD_SNRS
from phydnn.training.progress import progress
from phydnn.training.records import drop_resume, provenance, refuse_overwrite, settings

__all__ = ["CodecTrainConfig", "carve_validation", "codec_accuracy", "train_codec"]


@dataclass
class CodecTrainConfig:
    codec: str = "dtjscc"
    dataset: str = "fashion-mnist"
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    beta: float = 0.01
    beta_warmup: int = 0               # epochs of a linear ramp of beta from 0 (0: none)
    tau: float = 1.0
    snr_low: float = 0.0
    snr_high: float = 20.0
    val_images: int = 5000
    val_snr: float = 12.0
    arch: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    threads: int = 0
    weights_dtype: str = "float16"     # stored precision (computed in float32)
    out: str = "models/fmnist_dtjscc"
    init: str = ""                     # a bundle to start from (codecs that take one)
    teacher: str = ""                  # a classifier bundle that distils into the network
    distill: float = 0.0               # weight a of the teacher's term (0: labels alone)
    distill_temperature: float = 4.0
    data_root: str | None = None
    resume: bool = False
    force: bool = False
    command: str = field(default="", repr=False)

    def check(self) -> type:
        codec = get_codec(self.codec)
        if not issubclass(codec, EndToEndCodec) or codec.trainer != "phydnn train-codec":
            how = getattr(codec, "trainer", "phydnn train")
            raise ConfigError(f"codec={self.codec!r} is not trained end to end from scratch; "
                              f"its models come from '{how}'")
        for name in ("epochs", "batch_size", "val_images"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        check_positive("tau", self.tau)
        check_choice("weights_dtype", self.weights_dtype, ("float32", "float16", "bfloat16"))
        for name in ("weight_decay", "beta", "threads", "beta_warmup"):
            check_non_negative(name, getattr(self, name),
                               integer=name in ("threads", "beta_warmup"))
        if not -10.0 <= self.snr_low <= self.snr_high <= 60.0:
            raise ConfigError(f"snr_low={self.snr_low}, snr_high={self.snr_high} are not "
                              f"allowed; they must satisfy -10 <= snr_low <= snr_high <= 60")
        if not 0.0 <= self.distill < 1.0:
            raise ConfigError(f"distill={self.distill} is not allowed; the teacher's weight "
                              f"must be in [0, 1)")
        if bool(self.distill) != bool(self.teacher):
            raise ConfigError(f"distill={self.distill} and teacher={self.teacher!r} are not "
                              f"allowed together; distillation needs both a weight in (0, 1) "
                              f"and a teacher bundle")
        check_positive("distill_temperature", self.distill_temperature)
        unknown = set(self.arch) - set(codec.default_arch())
        if unknown:
            raise ConfigError(f"arch keys {sorted(unknown)} are not known to {self.codec}; "
                              f"known: {sorted(codec.default_arch())}")
        return codec


def carve_validation(train: ImageDataset, n_val: int,
                     seed: int) -> tuple[ImageDataset, ImageDataset]:
    """(train, validation): a seeded permutation of the training split, the last n_val held
    out."""
    if n_val >= len(train):
        raise ConfigError(f"val_images={n_val} is not allowed; the training split has only "
                          f"{len(train)} images")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))

    def take(idx: torch.Tensor, split: str) -> ImageDataset:
        return ImageDataset(train.name, split, train.images[idx], train.labels[idx],
                            train.classes, train.mean, train.std, train.augment, train.source)
    return take(order[:-n_val], "train"), take(order[-n_val:], "validation")


@torch.no_grad()
def codec_accuracy(net: nn.Module, data: ImageDataset, snr_db: float, receiver: str,
                   seed: int = 0, batch_size: int = 500) -> float:
    """Accuracy of the torch link (``net.simulate``) at one Es/N0, one seeded noise draw."""
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    nv = snr_db_to_noise_var(float(snr_db))
    correct = 0
    for x, y in iterate_batches(data, batch_size):
        correct += int((net.simulate(x, nv, receiver, gen).argmax(1) == y).sum())
    return correct / len(data)


def _load_teacher(path: str, data: ImageDataset) -> nn.Module:
    """The frozen classifier that distils into the network; it must have been trained on the
    same dataset (same classes, same input normalisation)."""
    from phydnn.models.bundle import load_backbone

    teacher, card = load_backbone(path)
    if card.get("dataset") != data.name:
        raise ConfigError(f"teacher={path} was trained on {card.get('dataset')!r}, not on "
                          f"{data.name!r}")
    return teacher.eval().requires_grad_(False)


def _resume_stem(cfg: CodecTrainConfig) -> Path:
    return Path(str(cfg.out) + ".resume")


class _Run:
    def __init__(self, cfg: CodecTrainConfig) -> None:
        self.codec = cfg.check()
        self.cfg = cfg
        refuse_overwrite(cfg.out, cfg.force, cfg.resume)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        full = load_dataset(cfg.dataset, "train", cfg.data_root)
        self.test = load_dataset(cfg.dataset, "test", cfg.data_root)
        self.train, self.val = carve_validation(full, cfg.val_images, cfg.seed)
        self.net = self.codec.build(cfg.arch, full.input_shape[0], full.num_classes,
                                    full.input_shape)
        if cfg.init:
            self.codec.initialise(self.net, cfg.init)
        self.teacher = _load_teacher(cfg.teacher, full) if cfg.teacher else None
        groups = self.codec.optimiser_groups(self.net, cfg.lr, cfg.arch)
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps = num_batches(len(self.train), cfg.batch_size, drop_last=True)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=[g["lr"] for g in groups], epochs=cfg.epochs,
            steps_per_epoch=self.steps, pct_start=0.2)
        self.metrics = Path(str(cfg.out) + ".metrics.csv")
        self.start, self.elapsed, self.best = 0, 0.0, ((False, -1.0), 0)
        self.best_state = copy.deepcopy(self.net.state_dict())

    def noise_var(self, n: int, gen: torch.Generator) -> torch.Tensor:
        lo, hi = self.cfg.snr_low, self.cfg.snr_high
        snr = lo + (hi - lo) * torch.rand(n, generator=gen)
        return 10.0 ** (-snr / 10.0)

    @torch.no_grad()
    def target(self, x: torch.Tensor, y: torch.Tensor) -> TaskTarget:
        """The batch's labels and, with a teacher, its softened probabilities on the same
        (augmented) images."""
        if self.teacher is None:
            return TaskTarget(y)
        t = self.cfg.distill_temperature
        return TaskTarget(y, torch.softmax(self.teacher(x) / t, 1), self.cfg.distill, t)

    def epoch(self, epoch: int) -> dict[str, float]:
        cfg, net = self.cfg, self.net
        net.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        sums = {"loss": 0.0, "ce": 0.0, "reg": 0.0, "err": 0.0, "acc": 0.0}
        beta = cfg.beta * (min(1.0, epoch / cfg.beta_warmup) if cfg.beta_warmup else 1.0)
        seen = 0
        bar = progress(iterate_batches(self.train, cfg.batch_size, shuffle=True,
                                       augment=True, generator=gen, drop_last=True),
                       total=self.steps, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for x, y in bar:
            out = net(x, self.noise_var(len(y), gen), cfg.tau)
            ce = self.codec.loss(out, self.target(x, y))
            loss = ce + beta * out["regulariser"]
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            n = len(y)
            seen += n
            for key, v in (("loss", loss), ("ce", ce), ("reg", out["regulariser"]),
                           ("err", out["symbol_errors"])):
                sums[key] += float(v.detach()) * n
            sums["acc"] += float((out["logits"].argmax(1) == y).sum())
            bar.set_postfix(loss=f"{sums['loss'] / seen:.3f}", refresh=False)
        return {k: v / max(seen, 1) for k, v in sums.items()}

    def save_resume(self, epoch: int) -> None:
        state = {f"model.{k}": v for k, v in self.net.state_dict().items()}
        state.update({f"best.{k}": v for k, v in self.best_state.items()})
        save_bundle(_resume_stem(self.cfg), state, {
            "kind": "resume", "epoch": epoch, "elapsed_s": self.elapsed,
            "best_val": self.best[0][1], "best_ok": self.best[0][0],
            "best_epoch": self.best[1], "config": settings(self.cfg)})

    def load_resume(self) -> None:
        state, card = load_bundle(_resume_stem(self.cfg))
        if card["config"]["codec"] != self.cfg.codec or card["config"]["arch"] != self.cfg.arch:
            raise ConfigError(f"the resume point at {_resume_stem(self.cfg)} is for another "
                              f"codec or arch; remove it or drop --resume")
        self.net.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.best_state = {k[5:]: v for k, v in state.items() if k.startswith("best.")}
        self.start, self.elapsed = int(card["epoch"]), float(card["elapsed_s"])
        self.best = ((bool(card.get("best_ok", True)), float(card["best_val"])),
                     int(card["best_epoch"]))
        with warnings.catch_warnings():     # stepping the schedule to where it stopped
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(self.start * self.steps):
                self.sched.step()

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.resume and bundle_paths(_resume_stem(cfg))[1].exists():
            self.load_resume()
        if self.start == 0:
            self.metrics.parent.mkdir(parents=True, exist_ok=True)
            self.metrics.write_text("epoch,loss,ce,regulariser,symbol_errors,train_acc,"
                                    "val_acc,lr,seconds\n")
        receiver = self.codec.default_receiver
        for epoch in range(self.start, cfg.epochs):
            t0 = time.perf_counter()
            row = self.epoch(epoch)
            if not math.isfinite(row["loss"]):
                raise ConfigError("training diverged (loss is not finite); lower --lr")
            val = codec_accuracy(self.net, self.val, cfg.val_snr, receiver)
            self.elapsed += time.perf_counter() - t0
            key = (bool(self.codec.admissible(self.net, cfg.val_snr)), val)
            if key > self.best[0]:
                self.best = (key, epoch + 1)
                self.best_state = copy.deepcopy(self.net.state_dict())
            with self.metrics.open("a", newline="") as f:
                csv.writer(f).writerow([epoch + 1] + [f"{row[k]:.4f}" for k in
                                                      ("loss", "ce", "reg", "err", "acc")]
                                       + [f"{val:.4f}", f"{self.sched.get_last_lr()[0]:.5f}",
                                          f"{self.elapsed:.1f}"])
            print(f"epoch {epoch + 1}: loss {row['loss']:.4f} (ce {row['ce']:.4f}, reg "
                  f"{row['reg']:.3f}, err {row['err']:.3f}), train {row['acc']:.4f}, "
                  f"val@{cfg.val_snr:g}dB {val:.4f}, {self.elapsed:.0f} s", flush=True)
            self.save_resume(epoch + 1)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """The best epoch's weights, rounded to the stored precision first (what is shipped
        is what is measured and fingerprinted), evaluated on the test set and saved."""
        cfg, net = self.cfg, self.net
        dtype = getattr(torch, cfg.weights_dtype)
        state = {k: v.to(dtype) if v.is_floating_point() else v
                 for k, v in self.best_state.items()}
        net.load_state_dict(state)
        net.eval()
        calibration = self.codec.calibrate(net, self.val)
        state = {k: state[k] if k in state and state[k].shape == v.shape else v
                 for k, v in net.state_dict().items()}     # what calibrate() set, unrounded
        t0 = time.perf_counter()
        table = {f"{s:.1f}": {r: round(codec_accuracy(net, self.test, s, r), 4)
                              for r in self.codec.receivers}
                 for s in self.codec.card_snrs or CARD_SNRS}
        shape = tuple(self.test.input_shape)
        tx_macs, latent = count_macs(net.encoder, shape)
        card = {
            "kind": "codec", "codec": cfg.codec, "role": "full", "arch": net_arch(self.codec,
                                                                                   cfg.arch),
            "in_channels": shape[0], **self.test.card(), **self.codec.card_fields(net),
            "bytes_per_image": bytes_per_image(net),
            "symbols_per_image": symbols_per_image(net.payload_spec(), net.values),
            "tx_params": count_params(net.encoder) + _shared_params(net),
            "tx_macs": int(tx_macs), "rx_params": count_params(net.decoder) + _shared_params(net),
            **calibration, "accuracy_vs_snr": table, "eval_images": len(self.test), "eval_seed": 0,
            "eval_time_s": round(time.perf_counter() - t0, 1),
            "validation": {"images": len(self.val), "snr_db": cfg.val_snr,
                           "best_accuracy": round(self.best[0][1], 4), "best_epoch": self.best[1],
                           "admissible": self.best[0][0]},
            "train_images": len(self.train), "epochs": cfg.epochs,
            "training_time_s": round(self.elapsed, 1), "weights_dtype": cfg.weights_dtype,
            **provenance(cfg.command or "phydnn train-codec", settings(cfg)),
        }
        save_bundle(cfg.out, state, card)
        drop_resume(_resume_stem(cfg))
        return card


def net_arch(codec: type, arch: dict[str, Any]) -> dict[str, Any]:
    return {**codec.default_arch(), **arch}


def _shared_params(net: nn.Module) -> int:
    book = getattr(net, "codebook", None)
    return count_params(book) if book is not None else 0


def bytes_per_image(net: nn.Module) -> float | None:
    """Payload bytes per image (framing and pilots apart): values x bits per value; None
    for an analog payload (real values, two per complex symbol: no bits to count)."""
    spec = net.payload_spec()
    if spec.kind == "analog":
        return None
    return net.values * spec.bits_per_symbol / 8


def train_codec(cfg: CodecTrainConfig) -> dict[str, Any]:
    """Train ``cfg.codec`` from scratch; returns the card of the saved bundle."""
    return _Run(cfg).run()

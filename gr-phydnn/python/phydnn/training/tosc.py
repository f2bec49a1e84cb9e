"""``phydnn train-tosc``: the TOSC-SR codec (:mod:`phydnn.codecs.tosc_sr`) and its RD and IB
baselines, trained on the relaxed loss of paper 004 Eq. 31 with the task network F frozen.

    loss = mse_weight * MSE(x, x_hat) + beta * CE(y, F(x_hat))

- RD baseline: beta = 0 (F is not run in training). IB baseline: mse_weight = 0.
- TOSC-SR: as the paper's Table II, from a trained RD codec (``--init``), fine-tuned with
  beta > 0 at a lower learning rate.
- Every image crosses the bit channel at an Es/N0 drawn uniformly from [snr_low, snr_high]
  dB; a share ``erase_prob`` loses a random run of its bits (a lost segment).
- A validation split of ``val_images`` is carved from the training set (seeded); the epoch
  with the lowest validation loss at ``val_snr`` (one seeded draw, the soft receiver) is the
  one saved. The test set only fills the card's table (F's accuracy, PSNR, SSIM per Es/N0
  and receiver). Weights stored in float16 and measured as stored; a resume point per epoch.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from phydnn.checkpoint import bundle_paths, load_bundle, save_bundle
from phydnn.codecs.tosc_sr import TOSCNet, TOSCSRCodec, bit_channel, soft_bits
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import ConfigError, check_choice, check_non_negative, check_positive
from phydnn.models.bundle import load_backbone
from phydnn.models.complexity import count_macs, count_params
from phydnn.phy.channel import snr_db_to_noise_var
from phydnn.training.codec_train import carve_validation
from phydnn.training.image_quality import psnr, ssim
from phydnn.training.progress import progress
from phydnn.training.records import drop_resume, provenance, refuse_overwrite, settings

__all__ = ["TOSCConfig", "evaluate_tosc", "train_tosc"]

CARD_SNRS = (0.0, 6.0, 12.0, 20.0)


@dataclass
class TOSCConfig:
    """Settings of ``phydnn train-tosc``; every field is a command-line option."""

    task: str = "models/fmnist_resnet20"
    dataset: str = "fashion-mnist"
    latent_bits: int = 4
    width: int = 32
    bits_per_symbol: int = 2
    beta: float = 0.0
    mse_weight: float = 1.0
    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-5
    snr_low: float = 0.0
    snr_high: float = 20.0
    erase_prob: float = 0.05
    val_images: int = 5000
    val_snr: float = 12.0
    init: str = ""
    seed: int = 0
    threads: int = 0
    weights_dtype: str = "float16"
    data_root: str | None = None
    out: str = "models/fmnist_tosc_k4"
    resume: bool = False
    force: bool = False
    command: str = field(default="", repr=False)

    def check(self) -> None:
        for name in ("epochs", "batch_size", "val_images"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        for name in ("beta", "mse_weight", "weight_decay", "threads"):
            check_non_negative(name, getattr(self, name), integer=name == "threads")
        if self.beta == 0 and self.mse_weight == 0:
            raise ConfigError("beta=0 and mse_weight=0 are not allowed together: the loss "
                              "would be empty (RD: beta 0; IB: mse_weight 0)")
        if not 0.0 <= self.erase_prob <= 1.0:
            raise ConfigError(f"erase_prob={self.erase_prob} is not allowed; it must be in "
                              f"[0, 1]")
        if not -10.0 <= self.snr_low <= self.snr_high <= 60.0:
            raise ConfigError(f"snr_low={self.snr_low}, snr_high={self.snr_high} are not "
                              f"allowed; they must satisfy -10 <= snr_low <= snr_high <= 60")
        check_choice("weights_dtype", self.weights_dtype, ("float32", "float16", "bfloat16"))

    @property
    def arch(self) -> dict[str, int]:
        return {"latent_bits": self.latent_bits, "width": self.width,
                "bits_per_symbol": self.bits_per_symbol}

    @property
    def variant(self) -> str:
        return "rd" if self.beta == 0 else "ib" if self.mse_weight == 0 else "tosc-sr"


def objective(cfg: TOSCConfig, out: dict[str, torch.Tensor], x01: torch.Tensor,
              y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, mse, ce) of Eq. 31 for one batch (ce is 0 when F was not run)."""
    mse = F.mse_loss(out["x_hat"], x01)
    ce = F.cross_entropy(out["logits"], y) if "logits" in out else torch.zeros(())
    return cfg.mse_weight * mse + cfg.beta * ce, mse, ce


@torch.no_grad()
def evaluate_tosc(net: TOSCNet, data: ImageDataset, snr_db: float, receiver: str = "soft",
                  seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """The torch path at one Es/N0 (one seeded draw): F's accuracy, mean PSNR and SSIM, the
    MSE and the CE of Eq. 31."""
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    nv = snr_db_to_noise_var(float(snr_db)) if math.isfinite(snr_db) else 1e-12
    sums = {"accuracy": 0.0, "psnr_db": 0.0, "ssim": 0.0, "mse": 0.0, "ce": 0.0}
    for x, y in iterate_batches(data, batch_size):
        z = net.transmit(x).float()
        llr = bit_channel(z, torch.full((len(x),), nv), net.bits_per_symbol, gen)
        x_hat = net.reconstruct(soft_bits(llr, None, receiver))
        logits, x01 = net.classify(x_hat), net.pixels(x)
        sums["accuracy"] += float((logits.argmax(1) == y).sum())
        sums["psnr_db"] += float(psnr(x01, x_hat).sum())
        sums["ssim"] += float(ssim(x01, x_hat).sum())
        sums["mse"] += float(F.mse_loss(x_hat, x01, reduction="none").flatten(1).mean(1).sum())
        sums["ce"] += float(F.cross_entropy(logits, y, reduction="sum"))
    return {k: v / len(data) for k, v in sums.items()}


class _Run:
    def __init__(self, cfg: TOSCConfig) -> None:
        cfg.check()
        self.cfg = cfg
        refuse_overwrite(cfg.out, cfg.force, cfg.resume)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        full = load_dataset(cfg.dataset, "train", cfg.data_root)
        self.test = load_dataset(cfg.dataset, "test", cfg.data_root)
        self.train, self.val = carve_validation(full, cfg.val_images, cfg.seed)
        task, self.task_card = load_backbone(cfg.task)
        if self.task_card.get("dataset") != full.name:
            raise ConfigError(f"task={cfg.task} was trained on "
                              f"{self.task_card.get('dataset')!r}, not on {full.name!r}")
        self.net = TOSCSRCodec.build_net(cfg.arch, task, self.task_card, full.card())
        if cfg.init:
            self._initialise(cfg.init)
        params = [p for n, p in self.net.named_parameters() if not n.startswith("task.")]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps = num_batches(len(self.train), cfg.batch_size, drop_last=True)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=self.steps,
            pct_start=0.1 if cfg.init else 0.2)
        self.metrics = Path(str(cfg.out) + ".metrics.csv")
        self.start, self.elapsed, self.best = 0, 0.0, (math.inf, 0)
        self.best_state = self._codec_state()

    def _codec_state(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.net.state_dict().items()
                if not k.startswith("task.")}

    def _initialise(self, path: str) -> None:
        """Encoder and decoder from a trained tosc-sr bundle of the same arch (TOSC-SR is
        fine-tuned from the RD codec: paper Table II)."""
        state, card = load_bundle(path)
        if card.get("codec") != "tosc-sr" or card.get("arch") != self.cfg.arch:
            raise ConfigError(f"init={path} is not a tosc-sr bundle with arch {self.cfg.arch} "
                              f"(it has codec {card.get('codec')!r}, arch {card.get('arch')})")
        self.net.load_state_dict({k: v.float() for k, v in state.items()
                                  if not k.startswith("task.")}, strict=False)

    def noise_var(self, n: int, gen: torch.Generator) -> torch.Tensor:
        lo, hi = self.cfg.snr_low, self.cfg.snr_high
        return 10.0 ** (-(lo + (hi - lo) * torch.rand(n, generator=gen)) / 10.0)

    def epoch(self, epoch: int) -> dict[str, float]:
        cfg, net = self.cfg, self.net
        net.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        sums, seen = {"loss": 0.0, "mse": 0.0, "ce": 0.0, "ber": 0.0}, 0
        bar = progress(iterate_batches(self.train, cfg.batch_size, shuffle=True, augment=True,
                                       generator=gen, drop_last=True),
                       total=self.steps, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for x, y in bar:
            out = net(x, self.noise_var(len(y), gen), cfg.erase_prob, gen)
            if cfg.beta == 0:
                out.pop("logits")                 # RD: F's gradient is not needed
            loss, mse, ce = objective(cfg, out, net.pixels(x), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            seen += len(y)
            for key, v in (("loss", loss), ("mse", mse), ("ce", ce), ("ber", out["bit_errors"])):
                sums[key] += float(v.detach()) * len(y)
            bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}", refresh=False)
        return {k: v / max(seen, 1) for k, v in sums.items()}

    def validate(self) -> dict[str, float]:
        m = evaluate_tosc(self.net, self.val, self.cfg.val_snr)
        m["loss"] = self.cfg.mse_weight * m["mse"] + self.cfg.beta * m["ce"]
        return m

    def save_resume(self, epoch: int) -> None:
        state = {f"model.{k}": v for k, v in self._codec_state().items()}
        state.update({f"best.{k}": v for k, v in self.best_state.items()})
        save_bundle(Path(str(self.cfg.out) + ".resume"), state, {
            "kind": "resume", "epoch": epoch, "elapsed_s": self.elapsed,
            "best_val": self.best[0], "best_epoch": self.best[1], "config": settings(self.cfg)})

    def load_resume(self) -> None:
        state, card = load_bundle(Path(str(self.cfg.out) + ".resume"))
        if card["config"]["latent_bits"] != self.cfg.latent_bits or \
                card["config"]["width"] != self.cfg.width:
            raise ConfigError(f"the resume point at {self.cfg.out}.resume is for another arch; "
                              f"remove it or drop --resume")
        self.net.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")},
                                 strict=False)
        self.best_state = {k[5:]: v for k, v in state.items() if k.startswith("best.")}
        self.start, self.elapsed = int(card["epoch"]), float(card["elapsed_s"])
        self.best = (float(card["best_val"]), int(card["best_epoch"]))
        for _ in range(self.start * self.steps):
            self.sched.step()

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.resume and bundle_paths(Path(str(cfg.out) + ".resume"))[1].exists():
            self.load_resume()
        if self.start == 0:
            self.metrics.parent.mkdir(parents=True, exist_ok=True)
            self.metrics.write_text("epoch,loss,mse,ce,bit_errors,val_loss,val_psnr_db,"
                                    "val_accuracy,lr,seconds\n")
        for epoch in range(self.start, cfg.epochs):
            t0 = time.perf_counter()
            row = self.epoch(epoch)
            if not math.isfinite(row["loss"]):
                raise ConfigError("training diverged (loss is not finite); lower --lr")
            val = self.validate()
            self.elapsed += time.perf_counter() - t0
            if val["loss"] < self.best[0]:
                self.best = (val["loss"], epoch + 1)
                self.best_state = self._codec_state()
            with self.metrics.open("a", newline="") as f:
                csv.writer(f).writerow(
                    [epoch + 1] + [f"{row[k]:.5f}" for k in ("loss", "mse", "ce", "ber")]
                    + [f"{val['loss']:.5f}", f"{val['psnr_db']:.3f}", f"{val['accuracy']:.4f}",
                       f"{self.sched.get_last_lr()[0]:.6f}", f"{self.elapsed:.1f}"])
            print(f"epoch {epoch + 1}: loss {row['loss']:.5f} (mse {row['mse']:.5f}, ce "
                  f"{row['ce']:.4f}, bit errors {row['ber']:.3f}); val@{cfg.val_snr:g}dB loss "
                  f"{val['loss']:.5f}, PSNR {val['psnr_db']:.2f} dB, F accuracy "
                  f"{val['accuracy']:.4f}; {self.elapsed:.0f} s", flush=True)
            self.save_resume(epoch + 1)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        cfg, net = self.cfg, self.net
        dtype = getattr(torch, cfg.weights_dtype)
        codec = {k: v.to(dtype) if v.is_floating_point() else v
                 for k, v in self.best_state.items()}
        net.load_state_dict({k: v.float() for k, v in codec.items()}, strict=False)
        net.eval()
        state = {**codec, **{f"task.{k}": v for k, v in net.task.state_dict().items()}}
        t0 = time.perf_counter()
        table = {f"{s:.1f}": {r: {k: round(v, 4) for k, v in evaluate_tosc(
            net, self.test, s, r).items()} for r in TOSCSRCodec.receivers} for s in CARD_SNRS}
        shape = tuple(self.test.input_shape)
        card = {
            "kind": "codec", "codec": "tosc-sr", "role": "full", "variant": cfg.variant,
            "arch": cfg.arch,
            "in_channels": shape[0], **self.test.card(), **TOSCSRCodec.card_fields(net),
            "task": {"bundle": cfg.task, "backbone": self.task_card["backbone"],
                     "num_classes": int(self.task_card["num_classes"]),
                     "mean": list(self.task_card["mean"]), "std": list(self.task_card["std"]),
                     "clean_accuracy": self.task_card.get("test_accuracy")},
            "loss": {"mse_weight": cfg.mse_weight, "beta": cfg.beta,
                     "mse": "mean over pixels in [0, 1]"},
            "bytes_per_image": net.values / 8,
            "symbols_per_image": -(-net.values // net.bits_per_symbol),
            "tx_params": count_params(net.encoder),
            "tx_macs": int(count_macs(net.encoder, shape)[0]),
            "rx_params": count_params(net.decoder) + count_params(net.task),
            "test_vs_snr": table, "eval_images": len(self.test), "eval_seed": 0,
            "eval_time_s": round(time.perf_counter() - t0, 1),
            "validation": {"images": len(self.val), "snr_db": cfg.val_snr,
                           "best_loss": round(self.best[0], 6), "best_epoch": self.best[1]},
            "train_images": len(self.train), "epochs": cfg.epochs,
            "training_time_s": round(self.elapsed, 1), "weights_dtype": cfg.weights_dtype,
            **provenance(cfg.command or "phydnn train-tosc", settings(cfg)),
        }
        save_bundle(cfg.out, state, card)
        drop_resume(Path(str(cfg.out) + ".resume"))
        return card


def train_tosc(cfg: TOSCConfig) -> dict[str, Any]:
    """Train a TOSC-SR / RD / IB codec; returns the card of the saved bundle."""
    return _Run(cfg).run()

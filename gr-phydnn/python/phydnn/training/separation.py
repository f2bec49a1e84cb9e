"""``phydnn train-separation``: the separation baseline (:mod:`phydnn.codecs.separation`)
from a BottleFit bottleneck (or a static VFE-family network: paper 000's learning-based
quantisation baseline), in three steps.

1. Quantiser: the head stays as BottleFit trained it (the device's part); one clipping range
   alpha_b per b in 1..8 starts at the MSE-optimal value on training features (a grid) and is
   fine-tuned with the tail *through the quantiser* (straight-through rounding), b drawn per
   batch, cross-entropy loss. A share of the images (``erase_prob``) loses a random run of
   features, as a failed codeword would, so the tail learns the fill.
2. Rate matching, per channel-use budget S (symbols per image): the (b, code) modes that
   fit 2 S coded bits (:func:`~phydnn.codecs.separation.fit_modes`); for each Es/N0 of the
   rate table, the mode with the best accuracy on a validation split carved from the
   training set (one seeded noise draw, gr-fec decoding: the real receiver).
3. Test: accuracy vs Es/N0 with the rate table's choice, each mode's noise-free accuracy,
   and the float bottleneck's, written into one bundle per budget (``OUT_s{S}``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from phydnn.checkpoint import save_bundle
from phydnn.codecs.separation import (
    MAX_BITS,
    SeparationCodec,
    SeparationNet,
    SeparationReceiver,
    SeparationTransmitter,
    fit_modes,
)
from phydnn.data import ImageDataset, iterate_batches, load_dataset, num_batches
from phydnn.errors import ConfigError, check_non_negative, check_positive
from phydnn.link.simulate import simulate_sides
from phydnn.training.bottlefit import load_bottlefit
from phydnn.training.codec_train import carve_validation
from phydnn.training.finetune import CARD_SNRS
from phydnn.training.progress import progress
from phydnn.training.records import provenance, refuse_overwrite

__all__ = ["SeparationConfig", "train_separation"]

DEFAULT_CODES = ("cc12", "cc23", "cc34", "ldpc300", "ldpc500", "uncoded")


@dataclass
class SeparationConfig:
    """Settings of ``phydnn train-separation``; every field is a command-line option."""

    bottleneck: str = "models/fmnist_resnet20_bottlefit_s3w2"
    budgets: tuple[int, ...] = (784, 196)
    codes: tuple[str, ...] = DEFAULT_CODES
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    erase_prob: float = 0.1
    val_images: int = 5000
    rate_images: int = 2000
    rate_snrs: tuple[float, ...] = tuple(float(s) for s in range(-4, 22, 2))
    crc_bits: int = 16               # per codeword: 16 (CRC-16) or 0 (none: tiny budgets)
    seed: int = 0
    threads: int = 0
    data_root: str | None = None
    out: str = "models/fmnist_separation"
    force: bool = False
    command: str = field(default="", repr=False)

    def check(self) -> None:
        from phydnn.fec import CODE_NAMES
        check_non_negative("epochs", self.epochs, integer=True)
        for name in ("batch_size", "val_images", "rate_images"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        if not 0.0 <= self.erase_prob <= 1.0:
            raise ConfigError(f"erase_prob={self.erase_prob} is not allowed; it must be in "
                              f"[0, 1]")
        for b in self.budgets:
            check_positive("budgets", b, integer=True)
        unknown = [c for c in self.codes if c not in CODE_NAMES]
        if unknown or not self.codes:
            raise ConfigError(f"codes={list(self.codes)} is not allowed; choose from "
                              f"{', '.join(CODE_NAMES)}")
        if self.crc_bits not in (0, 16):
            raise ConfigError(f"crc_bits={self.crc_bits} is not allowed; 16 (CRC-16 per "
                              f"codeword) or 0 (none)")
        for b in self.budgets:
            refuse_overwrite(f"{self.out}_s{b}", self.force)


def load_bottleneck(path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The split to quantise between: a BottleFit bundle, or a static VFE-family codec
    bundle (its active values as a feature map of k channels; paper 000's quantisation
    baseline quantises the same network's features), and what the card needs of it."""
    from phydnn.checkpoint import load_bundle
    state, card = load_bundle(path)
    if card.get("kind") != "codec" or card.get("codec") != "vfe":
        return load_bottlefit(path)
    from phydnn.codecs.vfe import VFECodec, VFESplit
    net = VFECodec.build(card["arch"], int(card["in_channels"]), int(card["num_classes"]),
                         tuple(card["input_shape"]))
    net.load_state_dict(state)
    split = VFESplit(net.eval())
    keep = ("in_channels", "dataset", "input_shape", "num_classes", "mean", "std", "arch")
    return split, {**{k: card[k] for k in keep}, "codec": "vfe", "backbone": "vfe",
                   "split": "tanh", "width": split.width, "feature_shape": [split.width, 1, 1],
                   "test_accuracy": card.get("noise_free_accuracy")}


def _features(net: SeparationNet, data: ImageDataset, batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.features(x) for x, _ in iterate_batches(data, batch)])


def _init_quantiser(net: SeparationNet, z: torch.Tensor) -> None:
    """alpha_b = the clipping range of least squared error on these features, and the fill
    = each channel's mean."""
    flat = z.flatten()
    grid = torch.linspace(0.2, 6.0, 59) * flat.std()
    with torch.no_grad():
        net.fill.copy_(z.mean((0, 2, 3)))
        for b in range(1, MAX_BITS + 1):
            errors = []
            for a in grid:
                net.quantiser.alpha[b - 1] = a
                errors.append(float((net.quantiser(flat, b) - flat).square().mean()))
            net.quantiser.alpha[b - 1] = grid[int(np.argmin(errors))]


def _erase(n: int, shape: tuple[int, ...], prob: float, gen: torch.Generator) -> torch.Tensor:
    """(n, *shape) bool: for a share ``prob`` of the images, one random run of features (in
    the codewords' order) erased."""
    f = int(np.prod(shape))
    start = torch.randint(0, f, (n, 1), generator=gen)
    length = torch.randint(1, f + 1, (n, 1), generator=gen)
    pos = torch.arange(f).view(1, -1)
    run = (pos >= start) & (pos < start + length)
    hit = torch.rand(n, 1, generator=gen) < prob
    return (run & hit).view(n, *shape)


def _fine_tune(net: SeparationNet, train: ImageDataset, cfg: SeparationConfig) -> list[float]:
    """Tail and alphas through the quantiser (b drawn per batch); the head stays frozen."""
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [*net.tail.parameters(), net.quantiser.alpha]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    steps = cfg.epochs * num_batches(len(train), cfg.batch_size, drop_last=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    net.head.eval()
    net.tail.train()
    losses = []
    for epoch in range(cfg.epochs):
        total, seen = 0.0, 0
        batches = iterate_batches(train, cfg.batch_size, shuffle=True, augment=True,
                                  generator=gen, drop_last=True)
        for x, y in progress(batches, total=steps // max(cfg.epochs, 1),
                             desc=f"quantiser epoch {epoch + 1}"):
            with torch.no_grad():
                z = net.features(x)
            bits = int(torch.randint(1, MAX_BITS + 1, (1,), generator=gen))
            erased = _erase(len(x), tuple(z.shape[1:]), cfg.erase_prob, gen)
            loss = F.cross_entropy(net.decode(net.quantiser(z, bits), erased), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, seen = total + loss.item() * len(x), seen + len(x)
        losses.append(total / max(seen, 1))
        print(f"quantiser epoch {epoch + 1}: loss {losses[-1]:.4f}", flush=True)
    net.eval()
    return losses


def _card(cfg: SeparationConfig, bcard: dict[str, Any], net: SeparationNet,
          budget: int) -> dict[str, Any]:
    modes = fit_modes(int(np.prod(bcard["feature_shape"])), budget, tuple(cfg.codes),
                      cfg.crc_bits)
    source = {k: bcard[k] for k in ("codec", "arch") if k in bcard}
    return {
        "kind": "codec", "codec": "separation", "role": "full",
        "bottleneck": {"path": cfg.bottleneck, "backbone": bcard["backbone"],
                       "split": bcard["split"], "width": int(bcard["width"]),
                       "float_accuracy": bcard.get("test_accuracy"), **source},
        "in_channels": bcard["in_channels"], "dataset": bcard["dataset"],
        "input_shape": bcard["input_shape"], "num_classes": bcard["num_classes"],
        "mean": bcard["mean"], "std": bcard["std"],
        "feature_shape": bcard["feature_shape"],
        "features": int(np.prod(bcard["feature_shape"])),
        "budget_symbols": int(budget), "symbols_per_image": int(budget),
        "payload": SeparationCodec.payload_spec({}).as_dict(),
        "values_per_image": 2 * int(budget), "bytes_per_image": 2 * int(budget) / 8,
        "modes": [asdict(m) for m in modes],
        "fingerprint": SeparationCodec.fingerprint(net),
    }


class _CachedHead:
    """The network with its head's features remembered per image batch: choosing among
    dozens of modes on the same validation images needs the head once, not per mode."""

    def __init__(self, net: SeparationNet) -> None:
        self.net, self.head, self.quantiser = net, net.head, net.quantiser
        self._features: dict[str, torch.Tensor] = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        key = hashlib.sha1(x.numpy().tobytes()).hexdigest()
        if key not in self._features:
            self._features[key] = self.net.features(x)
        return self._features[key]

    def decode(self, z: torch.Tensor, erased: torch.Tensor | None = None) -> torch.Tensor:
        return self.net.decode(z, erased)


def _accuracy(net: SeparationNet | _CachedHead, card: dict[str, Any], mode: int,
              data: ImageDataset, snr_db: float, seed: int) -> float:
    tx, rx = SeparationTransmitter(net, card), SeparationReceiver(net, card, "soft")
    tx.mode = mode
    return simulate_sides(tx, rx, data, snr_db, seed=seed)


def _rate_table(net: SeparationNet, card: dict[str, Any], val: ImageDataset,
                cfg: SeparationConfig) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """The best mode per Es/N0 on the validation images, and every mode's accuracy there."""
    table, scores = [], {}
    cached = _CachedHead(net)
    for snr in progress(cfg.rate_snrs, total=len(cfg.rate_snrs),
                        desc=f"rate matching, S={card['budget_symbols']}"):
        accs = [_accuracy(cached, card, m, val, snr, cfg.seed)
                for m in range(len(card["modes"]))]
        scores[f"{snr:.1f}"] = [round(a, 4) for a in accs]
        table.append({"snr_db": float(snr), "mode": int(np.argmax(accs))})
        best = card["modes"][table[-1]["mode"]]
        print(f"S={card['budget_symbols']} {snr:5.1f} dB: best {max(accs) * 100:.1f} % with "
              f"b={best['bits']} {best['code']}", flush=True)
    return table, scores


def _test(net: SeparationNet, card: dict[str, Any], test: ImageDataset) -> dict[str, Any]:
    """Accuracy vs Es/N0 (the rate table's mode at each) and each mode's noise-free one."""
    cached = _CachedHead(net)
    tx, rx = SeparationTransmitter(cached, card), SeparationReceiver(net, card, "soft")
    curve = {}
    for snr in CARD_SNRS:
        tx.adapt(snr)
        curve[f"{float(snr):.1f}"] = {"soft": round(simulate_sides(tx, rx, test, snr), 4),
                                      "mode": tx.mode}
    clean = [round(_accuracy(cached, card, m, test, float("inf"), 0), 4)
             for m in range(len(card["modes"]))]
    return {"accuracy_vs_snr": curve, "noise_free_accuracy": clean}


def train_separation(cfg: SeparationConfig) -> list[dict[str, Any]]:
    """Fine-tune the quantiser, match rates, test; returns the bundles' cards."""
    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    bottleneck, bcard = load_bottleneck(cfg.bottleneck)
    net = SeparationNet(bottleneck)
    full = load_dataset(bcard["dataset"], "train", cfg.data_root)
    train, val = carve_validation(full, cfg.val_images, cfg.seed)
    test = load_dataset(bcard["dataset"], "test", cfg.data_root)
    t0 = time.perf_counter()
    _init_quantiser(net, _features(net, train.subset(5000)))
    losses = _fine_tune(net, train, cfg)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in _state(net).items()})      # measured as stored
    trained_s = time.perf_counter() - t0
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
              if k not in ("command", "force")}
    cards = []
    for budget in cfg.budgets:
        card = {**_card(cfg, bcard, net, budget), "path": f"{cfg.out}_s{budget}"}
        card["rate_table"], scores = _rate_table(net, card, val.subset(cfg.rate_images), cfg)
        card.update(_test(net, card, test))
        card.update({
            "validation": {"images": min(cfg.rate_images, len(val)), "split": "carved from "
                           "train", "accuracy_by_mode": scores},
            "eval_images": len(test), "eval_seed": 0, "quantiser_loss": losses,
            "training_time_s": round(trained_s, 1),
            "total_time_s": round(time.perf_counter() - t0, 1),
            **provenance(cfg.command or "phydnn train-separation", config)})
        card.pop("path")
        save_bundle(f"{cfg.out}_s{budget}", _state(net), card)
        cards.append(card)
    return cards


def _state(net: SeparationNet) -> dict[str, torch.Tensor]:
    """Weights in float16 where they are floating point (the network computes in float32)."""
    return {k: (v.half() if v.is_floating_point() and not k.startswith(("quantiser.", "fill"))
                else v) for k, v in net.state_dict().items()}

"""Settings of ``phydnn train``: a TOML file plus ``--set key=value`` overrides, checked.

Unknown keys, values of the wrong type and impossible schedules are refused with one message
that names the key and what is allowed; nothing runs until the whole config is valid.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from phydnn.errors import (
    ConfigError,
    check_choice,
    check_non_negative,
    check_positive,
    check_power_of_two,
)
from phydnn.phy.channel_spec import ChannelSpec

__all__ = ["FinetuneConfig", "load_config"]


@dataclass
class FinetuneConfig:
    """PhyDNN fine-tuning (paper Alg. 1); defaults follow the paper where it gives values."""

    pretrained: str = "models/fmnist_resnet20"
    init: str = ""                                # a PhyDNN bundle to continue from
    train_parts: str = "all"                      # "tail": head and codebook stay fixed
    backbone: str = "resnet20"                    # must match the pretrained bundle
    dataset: str = "fashion-mnist"
    data_root: str = ""
    split: str = "stage1"
    M: int = 16                                   # initial codebook size = PSK order
    scoring: str = "distance"                     # Eq. (2) "inner" or with -|e|^2/2 bias
    prune_path: list[int] = field(default_factory=lambda: [8, 4])
    prune_epochs: list[int] = field(default_factory=lambda: [3, 6])
    epochs: int = 9
    freeze_epochs: int = 1                        # backbone frozen for the first epochs
    batch_size: int = 128
    lr_embeddings: float = 1e-3                   # paper Sec. IV-B
    lr_backbone: float = 1e-4
    lr_schedule: str = "constant"                 # or "cosine": decay to 0 over the run
    beta_start: float = 1e-4                      # Eq. (7); grows linearly ...
    beta_growth: float = 10.0                     # ... by this factor over the run
    tau: float = 0.5                              # Gumbel-softmax temperature
    gumbel: bool = True                           # sample the sent embedding (Alg. 1); false:
                                                  # send the argmax, as at inference
    n_mc: int = 1                                 # Monte-Carlo samples per input (Eq. 7)
    snr_db: float = 12.0                          # training Es/N0
    snr_spread_db: float = 0.0                    # per-image Es/N0 ~ U[snr-spread, snr+spread]
    channel: str = "awgn"                         # awgn | rayleigh | rician | phase (paper
    channel_fading: str = "block"                 # Sec. IV's NLoS/LoS): phydnn.phy.ChannelSpec,
    channel_k_factor: float = 3.0                 # the receiver equalising with a channel
    channel_csi: str = "estimated"                # estimate from the sync word
    channel_phase_error_deg: float = 0.0
    soft_fraction: float = 0.0                    # share of realisations with soft lookup
    distill: float = 0.0                          # weight of distillation from the unsplit
    distill_temperature: float = 4.0              # backbone in the channel-path loss
    kmeans_images: int = 2000
    kmeans_slices: int = 100_000
    bn_images: int = 10_000                       # tail batch-norm recalibration (0: off)
    eval_images: int = 2000                       # per-epoch validation subset
    train_subset: int = 0
    seed: int = 0
    threads: int = 0
    out: str = "models/fmnist_resnet20_phydnn"

    def check(self) -> FinetuneConfig:
        for name in ("M", "epochs", "batch_size", "n_mc", "kmeans_images", "kmeans_slices",
                     "eval_images"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("freeze_epochs", "train_subset", "threads", "seed", "bn_images"):
            check_non_negative(name, getattr(self, name), integer=True)
        for name in ("lr_embeddings", "lr_backbone", "beta_start", "beta_growth", "tau",
                     "distill_temperature"):
            check_positive(name, getattr(self, name))
        check_non_negative("snr_spread_db", self.snr_spread_db)
        _check_number("snr_db", self.snr_db)
        for name in ("soft_fraction", "distill"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)!r} is not allowed; "
                                  f"it must lie in [0, 1]")
        check_power_of_two("M", self.M)
        check_choice("scoring", self.scoring, ("distance", "inner"))
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_choice("train_parts", self.train_parts, ("all", "tail"))
        if self.train_parts == "tail" and self.freeze_epochs:
            raise ConfigError(f"freeze_epochs={self.freeze_epochs} is not allowed with "
                              f"train_parts='tail': nothing would learn in a frozen epoch; "
                              f"set freeze_epochs=0")
        self._check_pruning()
        self.channel_spec()
        return self

    def channel_spec(self) -> ChannelSpec:
        """The training channel, checked (names the offending setting)."""
        try:
            return ChannelSpec(self.channel, self.channel_fading,
                               k_factor=self.channel_k_factor, csi=self.channel_csi,
                               phase_error_deg=self.channel_phase_error_deg).check()
        except ConfigError as exc:
            raise ConfigError(f"channel settings: {exc}") from None

    def _check_pruning(self) -> None:
        if len(self.prune_path) != len(self.prune_epochs):
            raise ConfigError(f"prune_path {self.prune_path} and prune_epochs "
                              f"{self.prune_epochs} must have the same length")
        previous = self.M
        for m in self.prune_path:
            check_power_of_two("prune_path entry", m)
            if m >= previous:
                raise ConfigError(f"prune_path={self.prune_path} is not allowed; each entry "
                                  f"must be a power of two below the one before (M={self.M})")
            previous = m
        first = 0 if self.init else 1   # a model continued from init may prune at once
        if self.prune_epochs != sorted(set(self.prune_epochs)) or any(
                not first <= e < self.epochs for e in self.prune_epochs):
            raise ConfigError(f"prune_epochs={self.prune_epochs} is not allowed; they must "
                              f"increase strictly and lie in {first}..{self.epochs - 1} "
                              f"(epochs={self.epochs})")

    @property
    def path(self) -> list[int]:
        """Every M the model passes through: [M, *prune_path]."""
        return [self.M, *self.prune_path]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} is not allowed; it must be a finite number (dB)")


def _coerce(name: str, text: str, like: Any) -> Any:
    """Parse an override string into the type of the default ``like``."""
    try:
        if isinstance(like, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
        if isinstance(like, list):
            return [int(v) for v in text.replace("[", "").replace("]", "").split(",") if v]
    except ValueError:
        kind = type(like).__name__ if not isinstance(like, list) else "comma-separated integers"
        raise ConfigError(f"{name}={text!r} is not allowed; it must be {kind}") from None
    return text


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                **direct: Any) -> FinetuneConfig:
    """Defaults <- TOML file <- ``key=value`` overrides <- keyword arguments; then checked."""
    known = {f.name: f for f in fields(FinetuneConfig)}
    values: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            values.update(tomllib.loads(p.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    defaults = FinetuneConfig()
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not allowed; write key=value")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(known)}")
        values[key] = _coerce(key, text.strip(), getattr(defaults, key))
    values.update({k: v for k, v in direct.items() if v is not None})
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; known: {', '.join(known)}")
    for key, value in values.items():
        like = getattr(defaults, key)
        if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif type(value) is not type(like):
            raise ConfigError(f"{key}={value!r} is not allowed; it must be "
                              f"{type(like).__name__}")
    return FinetuneConfig(**values).check()

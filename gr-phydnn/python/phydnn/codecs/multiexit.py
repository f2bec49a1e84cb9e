"""The dynamic task-oriented encoder of paper 002 (Fu, Xiao, Ren, Skoglund,
"Computation-resource-efficient task-oriented communications", Sec. III-C): a multi-exit
network on the device under a compute budget, each exit's 16 real values over the link.

    x -> MSDNet-style encoder (5 blocks, two scales, dense; :mod:`phydnn.models.msdnet`)
         after block k: exit features f_k (64) -> confidence head: softmax, max (Eq. 11-12)
                        the first k with confidence >= theta_k (Alg. 3): the image leaves,
                        f_k -> channel encoder k (Table I) -> 16 values in [-1, 1]
         the others go on to block k + 1 as a smaller batch (real early exit: the MACs and
         the time an image costs are those of its exit)
    ~ analog payload: two values per complex symbol, peak power 1 (Eq. 3 with h = 1) ~>
    y -> channel decoder k (Table I) -> classifier k -> logits             (server, by exit)

Training (``phydnn train-codec --codec multiexit``) minimises sum_k CE_k over the five exits
(Eq. 15-16, omega_k = 1), every exit through the channel, plus the cross-entropy of the
confidence heads. The paper computes the confidence from "the logits of the model"; here
it is a small classifier on the device's own exit features, since the transmitter must
decide before anything is sent and never sees what the receiver decoded. After training,
the confidences of the validation images (carved from the training set) are stored in the
transmitter's bundle, so that any budget's thresholds (Alg. 2, :mod:`phydnn.codecs.budget`)
are found on the device (:meth:`MultiExitTransmitter.set_budget`), never on the test set.

The batch's exits reach the server in the codec field and, for a batch that mixes exits, an
exit map in the payload (:mod:`phydnn.codecs.exitmap`): rows sorted by exit, the map after
the 16 values of each row. A map that fails its check routes no image: those images get the
uniform distribution and ``extra['exit_map_failed']``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.codecs.base import CodecOutput, PayloadSpec, Receiver, RxPayload, Transmitter, TxPayload
from phydnn.codecs.budget import Budget, plan_budget
from phydnn.codecs.e2e import EndToEndCodec
from phydnn.codecs.exitmap import MIXED, decode_exit_map, encode_exit_map, field_exits, map_columns
from phydnn.codecs.layers import ChannelDecoder, ChannelEncoder, awgn
from phydnn.codecs.registry import register_codec
from phydnn.data import ImageDataset, iterate_batches
from phydnn.errors import ConfigError
from phydnn.models.complexity import count_macs, count_params
from phydnn.models.msdnet import MSDNet

__all__ = ["MultiExitCodec", "MultiExitNet", "MultiExitReceiver", "MultiExitTransmitter"]


class _Device(nn.Module):
    """What the device runs: the backbone, a confidence head and a channel encoder per exit,
    and the validation confidences (``calibration``, (n, K)) its thresholds come from."""

    def __init__(self, backbone: MSDNet, num_classes: int, values: int,
                 calibration_images: int) -> None:
        super().__init__()
        k = len(backbone.blocks)
        self.backbone = backbone
        self.confidence = nn.ModuleList(nn.Linear(backbone.features, num_classes)
                                        for _ in range(k))
        self.channel = nn.ModuleList(ChannelEncoder(backbone.features, values)
                                     for _ in range(k))
        self.register_buffer("calibration", torch.zeros(calibration_images, k))

    @property
    def k_exits(self) -> int:
        return len(self.channel)

    def forward(self, x: Tensor) -> Tensor:
        """Every exit's values (N, K, values): what training and MAC counts of the whole
        encoder see."""
        feats = self.backbone(x)
        return torch.stack([enc(f) for enc, f in zip(self.channel, feats, strict=True)], 1)

    def confidences(self, x: Tensor) -> Tensor:
        """Max softmax probability of every exit's confidence head (N, K)."""
        return torch.stack([F.softmax(head(f), 1).amax(1)
                            for head, f in zip(self.confidence, self.backbone(x), strict=True)], 1)

    @torch.no_grad()
    def early_exit(self, x: Tensor, theta: np.ndarray) -> tuple[Tensor, np.ndarray]:
        """Real early exit (Alg. 3): (values (N, V), 0-based exits (N,)); block k runs on
        the images still in the batch only."""
        n, last = len(x), self.k_exits - 1
        values = x.new_zeros(n, self.channel[0][-2].out_features)
        exits = np.full(n, last, np.int64)
        alive = torch.arange(n)
        xs = self.backbone.stem(x)
        for k in range(self.k_exits):
            xs = self.backbone.blocks[k](xs)
            f = self.backbone.exits[k](xs[1])
            if k < last:
                leave = F.softmax(self.confidence[k](f), 1).amax(1) >= float(theta[k])
            else:
                leave = torch.ones(len(f), dtype=torch.bool)
            if bool(leave.any()):
                idx = alive[leave]
                values[idx] = self.channel[k](f[leave])
                exits[idx.numpy()] = k
            if bool(leave.all()):
                break
            alive, xs = alive[~leave], (xs[0][~leave], xs[1][~leave])
        return values, exits


class _UpTo(nn.Module):
    """The operations an image leaving at exit k costs (for MAC counts): stem, blocks 1..k,
    exit features 1..k, confidence heads of the exits it passed and of k (none at the last
    exit, where every image leaves), channel encoder k."""

    def __init__(self, device: _Device, k: int) -> None:
        super().__init__()
        self.device, self.k = device, k

    def forward(self, x: Tensor) -> Tensor:
        d = self.device
        xs = d.backbone.stem(x)
        for j in range(self.k + 1):
            xs = d.backbone.blocks[j](xs)
            f = d.backbone.exits[j](xs[1])
            if j < d.k_exits - 1:
                d.confidence[j](f)
        return d.channel[self.k](f)


class MultiExitNet(nn.Module):
    """The device (``encoder``) and the server's decoder and classifier per exit
    (``decoder``)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 layers: tuple[int, ...] = (5, 3, 3, 3, 2), c1: int = 16, c2: int = 32,
                 g1: int = 8, g2: int = 16, features: int = 64, values: int = 16,
                 pilot_spacing: int = 16, calibration_images: int = 0) -> None:
        super().__init__()
        backbone = MSDNet(in_channels, tuple(layers), c1, c2, g1, g2, features)
        self.encoder = _Device(backbone, num_classes, values, calibration_images)
        self.decoder = nn.ModuleList(nn.Sequential(ChannelDecoder(values),
                                                   nn.Linear(values, num_classes))
                                     for _ in layers)
        self.values, self.pilot_spacing = int(values), int(pilot_spacing)

    @property
    def k_exits(self) -> int:
        return self.encoder.k_exits

    def payload_spec(self) -> PayloadSpec:
        return PayloadSpec("analog", 0, self.pilot_spacing).check()

    def exit_macs(self, input_shape: tuple[int, int, int]) -> list[int]:
        """C_k: MACs per image of leaving at exit k (k = 1..K)."""
        return [count_macs(_UpTo(self.encoder, k), input_shape)[0]
                for k in range(self.k_exits)]

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Any]:
        feats = self.encoder.backbone(x)
        rx, local, err = [], [], torch.zeros((), device=x.device)
        for k, f in enumerate(feats):
            v = self.encoder.channel[k](f)
            y = awgn(v, noise_var)
            rx.append(self.decoder[k](y))
            local.append(self.encoder.confidence[k](f))
            err = err + F.mse_loss(y, v).detach() / len(feats)
        return {"logits": rx[-1], "exit_logits": rx, "confidence_logits": local,
                "regulariser": torch.zeros((), device=x.device), "symbol_errors": err}

    @torch.no_grad()
    def exit_logits(self, x: Tensor, noise_var: float,
                    generator: torch.Generator | None = None) -> list[Tensor]:
        """Every exit's received logits through the channel (one noise draw per exit)."""
        return [dec(awgn(enc(f), noise_var, generator)) for dec, enc, f in
                zip(self.decoder, self.encoder.channel, self.encoder.backbone(x), strict=True)]

    def simulate(self, x: Tensor, noise_var: float, receiver: str = "soft",
                 generator: torch.Generator | None = None) -> Tensor:
        """The last exit's logits (the full budget)."""
        f = self.encoder.backbone(x)[-1]
        return self.decoder[-1](awgn(self.encoder.channel[-1](f), noise_var, generator))


class MultiExitTransmitter(Transmitter):
    """The device: early exit at the thresholds of its budget; the batch's rows sorted by
    exit, the codec field and exit map of :mod:`phydnn.codecs.exitmap`. ``spent_macs`` and
    ``images`` count what it realised."""

    def __init__(self, net: MultiExitNet, card: dict[str, Any]) -> None:
        super().__init__(card, MultiExitCodec.payload_spec(card))
        self.net = net
        self.costs = np.asarray(card["exit_macs"], np.float64)
        self.spent_macs, self.images = 0.0, 0
        self.exit_counts = np.zeros(net.k_exits, np.int64)
        self.set_budget(float(card.get("budget_macs") or self.costs[-1]))

    def set_budget(self, macs: float) -> Budget:
        """Thresholds for a budget of ``macs`` MACs per image (Alg. 2 on the stored
        validation confidences); ConfigError outside [C_1, inf)."""
        conf = self.net.encoder.calibration.double().numpy()
        if not len(conf):
            raise ConfigError(f"{self.path}: the bundle holds no validation confidences; "
                              f"it cannot set a budget")
        self.plan = plan_budget(conf, self.costs, float(macs))
        return self.plan

    def reset_counts(self) -> None:
        self.spent_macs, self.images = 0.0, 0
        self.exit_counts[:] = 0

    @property
    def realised_macs(self) -> float:
        """Mean MACs per image spent since the last :meth:`reset_counts`."""
        return self.spent_macs / max(self.images, 1)

    def encode_tensor(self, x: Tensor) -> TxPayload:
        values, exits = self.net.encoder.early_exit(x, self.plan.thresholds)
        self.spent_macs += float(self.costs[exits].sum())
        self.images += len(exits)
        self.exit_counts += np.bincount(exits, minlength=self.net.k_exits)
        order = np.argsort(exits, kind="stable")
        rows = values.numpy()[order]
        field, map_values = encode_exit_map(exits, self.net.k_exits)
        if len(map_values):
            cols = map_columns(len(exits), self.net.k_exits)
            extra = np.zeros(len(exits) * cols, np.float32)
            extra[:len(map_values)] = map_values
            rows = np.concatenate([rows, extra.reshape(len(exits), cols)], 1)
        return TxPayload(rows.astype(np.float32), field)

    def complexity(self) -> tuple[int, int]:
        """Device parameters; MACs per image at the current budget (as validated)."""
        return count_params(self.net.encoder), int(round(self.plan.val_macs))


class MultiExitReceiver(Receiver):
    """The server: the exits from the codec field (and map), each image to its exit's
    decoder."""

    def __init__(self, net: MultiExitNet, card: dict[str, Any]) -> None:
        super().__init__(card, MultiExitCodec.payload_spec(card))
        self.net = net
        self.num_classes = int(card["num_classes"])

    def check_field(self, codec_field: int) -> None:
        field_exits(codec_field, self.net.k_exits)

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        if codec_field & MIXED:
            return self.net.values + map_columns(n_images, self.net.k_exits)
        return self.net.values

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        n, v, k_exits = payload.n_images, self.net.values, self.net.k_exits
        exits = decode_exit_map(payload.codec_field, payload.values[:, v:].reshape(-1),
                                payload.noise_var[:, v:].reshape(-1),
                                payload.erased[:, v:].reshape(-1), n, k_exits)
        probs = np.full((n, self.num_classes), 1.0 / self.num_classes, np.float32)
        if exits is None:
            return CodecOutput(probs, {"exits": None, "exit_map_failed": True})
        order = np.argsort(exits, kind="stable")
        ranked = exits[order]
        rows = torch.from_numpy(np.ascontiguousarray(payload.values[:, :v], np.float32))
        for k in np.unique(ranked):
            mine = ranked == k
            logits = self.net.decoder[int(k)](rows[torch.from_numpy(mine)])
            probs[order[mine]] = F.softmax(logits, 1).numpy()
        return CodecOutput(probs, {"exits": exits, "exit_map_failed": False})


def _layers(a: dict[str, Any]) -> tuple[int, ...]:
    k = int(a["exits"])
    if k < 2:
        raise ConfigError(f"arch exits={k} is not allowed; a multi-exit encoder has 2 or more")
    return (int(a["first_layers"]), *[int(a["layers"])] * (k - 2), int(a["last_layers"]))


@register_codec("multiexit", codec_id=6)
class MultiExitCodec(EndToEndCodec):
    """The multi-exit dynamic encoder (paper 002 Sec. III-C). Block 1 has ``first_layers``
    dense layers, the last block ``last_layers``, the others ``layers``: with the default
    widths the five exits' cumulative MACs grow by about 6 M each up to ResNet-20's."""

    tx_keys = ("encoder.",)
    rx_keys = ("decoder.",)
    card_snrs = (0.0, 6.0, 12.0, 18.0)

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"exits": 5, "first_layers": 5, "layers": 3, "last_layers": 2, "c1": 16,
                "c2": 32, "g1": 8, "g2": 16, "features": 64, "values": 16, "pilot_spacing": 16}

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape,
              calibration_images: int = 0) -> MultiExitNet:
        a = {**cls.default_arch(), **arch}
        return MultiExitNet(in_channels, num_classes, _layers(a), int(a["c1"]), int(a["c2"]),
                            int(a["g1"]), int(a["g2"]), int(a["features"]), int(a["values"]),
                            int(a["pilot_spacing"]), calibration_images)

    @classmethod
    def build_from_card(cls, card: dict[str, Any]) -> MultiExitNet:
        return cls.build(card["arch"], int(card["in_channels"]), int(card["num_classes"]),
                         tuple(card["input_shape"]), int(card.get("calibration_images", 0)))

    @classmethod
    def loss(cls, out: dict[str, Any], y: Tensor) -> Tensor:
        """Eq. 15-16 (omega_k = 1) over the received logits of every exit, plus the
        confidence heads' cross-entropy (those of the exits where an image may leave)."""
        total = sum(F.cross_entropy(logits, y) for logits in out["exit_logits"])
        return total + sum(F.cross_entropy(logits, y)
                           for logits in out["confidence_logits"][:-1])

    @classmethod
    @torch.no_grad()
    def calibrate(cls, net: MultiExitNet, val: ImageDataset) -> dict[str, Any]:
        """Store the validation confidences in the transmitter and record the exits' costs
        and validation accuracies (noise-free exit heads) on the card."""
        net.eval()
        conf = torch.cat([net.encoder.confidences(x) for x, _ in iterate_batches(val, 500)])
        net.encoder.calibration = conf.float()
        shape = tuple(val.input_shape)
        return {"exit_macs": net.exit_macs(shape), "calibration_images": len(conf),
                "calibration_split": "validation"}

    @classmethod
    def transmitter(cls, state, card) -> Transmitter:
        return MultiExitTransmitter(cls._tx_net(state, card), card)

    @classmethod
    def receiver(cls, state, card, receiver: str | None = None) -> Receiver:
        return MultiExitReceiver(cls._net(state, card, cls.rx_keys), card)

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

Digital mode (``psk_bits=b``): each exit's 16 values, as 8 pairs, are quantised to the
nearest of 2^b learned two-dimensional codewords (one codebook per exit), codeword j sent as
point j of 2^b-PSK (8 symbols per image, as the analog payload's 8). Trained with the channel
in the graph, as PhyDNN's embedding layer is: the receiver's codeword is the posterior mean
sum_j p(j | y) c_j over the received symbol, the encoder's gradient passes straight through
the quantiser, and the codebook learns from the task loss and a VQ-VAE term
||sg(u) - c||^2 + 0.25 ||u - sg(c)||^2 (the regulariser). The codewords start on the circle
in the order of the PSK points, so that neighbouring codewords sit on neighbouring points.
``--init`` starts it from a trained analog bundle (:meth:`MultiExitCodec.initialise`).

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
from phydnn.codecs.e2e import EndToEndCodec, TaskTarget
from phydnn.codecs.exitmap import MIXED, decode_exit_map, encode_exit_map, field_exits, map_columns
from phydnn.codecs.layers import ChannelDecoder, ChannelEncoder, awgn
from phydnn.codecs.registry import register_codec
from phydnn.data import ImageDataset, iterate_batches
from phydnn.errors import CheckpointError, ConfigError
from phydnn.link.payload import symbols_per_image
from phydnn.models.complexity import count_macs, count_params
from phydnn.models.msdnet import MSDNet
from phydnn.phy.constellation import psk_points

__all__ = ["MultiExitCodec", "MultiExitNet", "MultiExitReceiver", "MultiExitTransmitter",
           "PairCodebook"]


class PairCodebook(nn.Module):
    """One learned codebook of 2^b two-dimensional codewords per exit, and the PSK it is
    sent on: quantisation at the transmitter, the posterior-mean codeword at the receiver."""

    def __init__(self, exits: int, bits: int) -> None:
        super().__init__()
        self.order = 1 << int(bits)
        pts = torch.from_numpy(psk_points(self.order)).to(torch.complex64)
        self.register_buffer("points", pts, persistent=False)   # fixed: not in the bundle
        start = 0.9 * torch.stack([pts.real, pts.imag], 1)
        self.words = nn.Parameter(start.repeat(exits, 1, 1))

    def quantise(self, u: Tensor, k: int) -> Tensor:
        """Values (N, 2P) -> codeword indices (N, P)."""
        pairs = u.view(len(u), -1, 2)
        return torch.cdist(pairs, self.words[k].unsqueeze(0).expand(len(u), -1, -1)).argmin(2)

    def receive(self, y: Tensor, noise_var: Tensor, k: int) -> Tensor:
        """Received symbols (N, P) complex, their complex noise variance (N, P) -> the
        posterior-mean codewords as values (N, 2P)."""
        d = (y.unsqueeze(-1) - self.points).abs() ** 2                       # (N, P, M)
        post = torch.softmax(-d / noise_var.unsqueeze(-1).clamp_min(1e-6), -1)
        return (post @ self.words[k]).reshape(len(y), -1)

    def channel(self, u: Tensor, noise_var: Tensor | float, k: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Training / torch link: quantise, send on PSK, receive (straight through to the
        encoder); returns (received values, VQ-VAE loss)."""
        j = self.quantise(u, k)
        c = self.words[k][j].reshape(u.shape)
        nv = noise_var.view(-1, 1) if isinstance(noise_var, Tensor) else \
            torch.full((len(u), 1), float(noise_var))
        sym = self.points[j]
        noise = torch.complex(torch.randn(sym.shape, generator=generator),
                              torch.randn(sym.shape, generator=generator))
        y = sym + noise * (nv / 2).sqrt()
        got = self.receive(y, nv.expand(sym.shape), k)
        vq = F.mse_loss(c, u.detach()) + 0.25 * F.mse_loss(u, c.detach())
        return got + (u - u.detach()), vq


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
                 pilot_spacing: int = 16, calibration_images: int = 0,
                 psk_bits: int = 0) -> None:
        super().__init__()
        if psk_bits and (values % 2 or not 1 <= psk_bits <= 8):
            raise ConfigError(f"arch psk_bits={psk_bits} with values={values} is not allowed; "
                              f"psk_bits in 1..8 and an even number of values")
        backbone = MSDNet(in_channels, tuple(layers), c1, c2, g1, g2, features)
        self.encoder = _Device(backbone, num_classes, values, calibration_images)
        self.decoder = nn.ModuleList(nn.Sequential(ChannelDecoder(values),
                                                   nn.Linear(values, num_classes))
                                     for _ in layers)
        self.codebook = PairCodebook(len(layers), psk_bits) if psk_bits else None
        self.dims, self.pilot_spacing = int(values), int(pilot_spacing)
        self.psk_bits = int(psk_bits)
        # payload values per image: the 16 real values, or 8 point indices of their pairs
        self.values = self.dims // 2 if psk_bits else self.dims

    @property
    def k_exits(self) -> int:
        return self.encoder.k_exits

    @property
    def symbols(self) -> int:
        """Data symbols of one image's features (8 for 16 values, analog or PSK)."""
        return symbols_per_image(self.payload_spec(), self.values)

    def payload_spec(self) -> PayloadSpec:
        if self.psk_bits:
            return PayloadSpec("psk", self.psk_bits, 0).check()
        return PayloadSpec("analog", 0, self.pilot_spacing).check()

    def through_channel(self, v: Tensor, noise_var: Tensor | float, k: int,
                        generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Exit k's values through the torch channel: (received values, VQ loss or 0)."""
        if self.codebook is None:
            return awgn(v, noise_var, generator), torch.zeros(())
        return self.codebook.channel(v, noise_var, k, generator)

    def exit_macs(self, input_shape: tuple[int, int, int]) -> list[int]:
        """C_k: MACs per image of leaving at exit k (k = 1..K)."""
        return [count_macs(_UpTo(self.encoder, k), input_shape)[0]
                for k in range(self.k_exits)]

    def forward(self, x: Tensor, noise_var: Tensor, tau: float = 1.0) -> dict[str, Any]:
        feats = self.encoder.backbone(x)
        rx, local = [], []
        err, reg = torch.zeros((), device=x.device), torch.zeros((), device=x.device)
        for k, f in enumerate(feats):
            v = self.encoder.channel[k](f)
            y, vq = self.through_channel(v, noise_var, k)
            rx.append(self.decoder[k](y))
            local.append(self.encoder.confidence[k](f))
            err = err + F.mse_loss(y, v).detach() / len(feats)
            reg = reg + vq
        return {"logits": rx[-1], "exit_logits": rx, "confidence_logits": local,
                "regulariser": reg, "symbol_errors": err}

    def simulate(self, x: Tensor, noise_var: float, receiver: str = "soft",
                 generator: torch.Generator | None = None) -> Tensor:
        """The last exit's logits (the full budget)."""
        f = self.encoder.backbone(x)[-1]
        k = self.k_exits - 1
        return self.decoder[k](self.through_channel(self.encoder.channel[k](f), noise_var, k,
                                                    generator)[0])


def _map_on_air(map_values: np.ndarray, size: int, book: PairCodebook | None) -> np.ndarray:
    """The map's +-1 values padded to ``size``: analog values (padding 0), or PSK points 0
    (+1) and M/2 (-1) (padding point 0)."""
    if book is None:
        out = np.zeros(size, np.float32)
        out[:len(map_values)] = map_values
        return out
    out = np.zeros(size, np.uint8)
    out[:len(map_values)] = np.where(map_values > 0, 0, book.order // 2)
    return out


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
        book = self.net.codebook
        if book is None:
            rows = values.numpy()[order].astype(np.float32)
        else:                                  # codeword indices, exit by exit
            ranked, sorted_values = exits[order], values[torch.from_numpy(order)]
            rows = np.concatenate([book.quantise(sorted_values[torch.from_numpy(ranked == k)],
                                                 int(k)).numpy() for k in np.unique(ranked)])
            rows = rows.astype(np.uint8)
        field, map_values = encode_exit_map(exits, self.net.k_exits)
        if len(map_values):
            cols = map_columns(len(exits), self.net.k_exits)
            extra = _map_on_air(map_values, len(exits) * cols, book)
            rows = np.concatenate([rows, extra.reshape(len(exits), cols)], 1)
        return TxPayload(rows, field)

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

    @property
    def _width(self) -> int:
        """Values per image of the features: 16 analog values, or 8 PSK points."""
        return self.net.values

    def values_per_image(self, codec_field: int, n_images: int = 1) -> int:
        if codec_field & MIXED:
            return self._width + map_columns(n_images, self.net.k_exits)
        return self._width

    def _map_soft(self, payload: RxPayload) -> tuple[np.ndarray, np.ndarray]:
        """The map's received values as +-1 soft values and their noise variance (PSK:
        the projection onto point 0, whose antipode is point M/2)."""
        w = self._width
        y, nv = payload.values[:, w:].reshape(-1), payload.noise_var[:, w:].reshape(-1)
        if self.net.codebook is None:
            return y, nv
        p0 = complex(self.net.codebook.points[0])
        return np.real(y * np.conj(p0)).astype(np.float32), nv / 2

    @torch.no_grad()
    def decode(self, payload: RxPayload) -> CodecOutput:
        n, w, k_exits = payload.n_images, self._width, self.net.k_exits
        soft, nv = self._map_soft(payload)
        exits = decode_exit_map(payload.codec_field, soft, nv,
                                payload.erased[:, w:].reshape(-1), n, k_exits)
        probs = np.full((n, self.num_classes), 1.0 / self.num_classes, np.float32)
        if exits is None:
            return CodecOutput(probs, {"exits": None, "exit_map_failed": True})
        order = np.argsort(exits, kind="stable")
        ranked = exits[order]
        rows = torch.from_numpy(np.ascontiguousarray(payload.values[:, :w]))
        nv_rows = torch.from_numpy(np.ascontiguousarray(payload.noise_var[:, :w], np.float32))
        for k in np.unique(ranked):
            mine = torch.from_numpy(ranked == k)
            got = (rows[mine].float() if self.net.codebook is None else
                   self.net.codebook.receive(rows[mine], nv_rows[mine], int(k)))
            logits = self.net.decoder[int(k)](got)
            mine = mine.numpy()
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

    tx_keys = ("encoder.", "codebook.")
    rx_keys = ("decoder.", "codebook.")
    card_snrs = (0.0, 6.0, 12.0, 18.0)

    @classmethod
    def default_arch(cls) -> dict[str, Any]:
        return {"exits": 5, "first_layers": 5, "layers": 3, "last_layers": 2, "c1": 16,
                "c2": 32, "g1": 8, "g2": 16, "features": 64, "values": 16, "pilot_spacing": 16,
                "psk_bits": 0}

    @classmethod
    def initialise(cls, net: MultiExitNet, bundle: str) -> None:
        """The weights of a trained multi-exit bundle of the same network (the digital mode
        from the analog one); the codebook, if the bundle has none, starts on the circle."""
        from phydnn.checkpoint import load_bundle
        state, card = load_bundle(bundle)
        if card.get("codec") != cls.name:
            raise CheckpointError(f"{bundle} is a {card.get('codec')} bundle; --init of "
                                  f"{cls.name} takes a {cls.name} bundle")
        state = {k: v.float() for k, v in state.items()
                 if not k.startswith("codebook.") and k != "encoder.calibration"}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("codebook.")
                   and k != "encoder.calibration"]
        if missing or unexpected:
            raise CheckpointError(f"{bundle}: weights do not fit this network (missing "
                                  f"{missing[:3]}, unexpected {list(unexpected)[:3]})")

    @classmethod
    def build(cls, arch, in_channels, num_classes, input_shape,
              calibration_images: int = 0) -> MultiExitNet:
        a = {**cls.default_arch(), **arch}
        return MultiExitNet(in_channels, num_classes, _layers(a), int(a["c1"]), int(a["c2"]),
                            int(a["g1"]), int(a["g2"]), int(a["features"]), int(a["values"]),
                            int(a["pilot_spacing"]), calibration_images, int(a["psk_bits"]))

    @classmethod
    def build_from_card(cls, card: dict[str, Any]) -> MultiExitNet:
        return cls.build(card["arch"], int(card["in_channels"]), int(card["num_classes"]),
                         tuple(card["input_shape"]), int(card.get("calibration_images", 0)))

    @classmethod
    def loss(cls, out: dict[str, Any], target: TaskTarget) -> Tensor:
        """Eq. 15-16 (omega_k = 1) over the received logits of every exit, plus the
        confidence heads' cross-entropy (those of the exits where an image may leave); with a
        teacher, every exit distils from it (as MSDNet's successors train their exits)."""
        total = sum(target.loss(logits) for logits in out["exit_logits"])
        return total + sum(target.loss(logits) for logits in out["confidence_logits"][:-1])

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

"""Full-stack split-computing baselines of paper 003 Sec. IV-B, run over a real TCP socket.

* SC (split computing): the head is the backbone's first layer (the stem), its float32
  feature map goes over TCP as it is.
* BF-1 / BF-2 (BottleFit, ref. [22]): a ``width``-channel bottleneck at the end of stage 1,
  trained in two stages with distillation (:mod:`phydnn.training.bottlefit`).

For each batch: the head runs on the "device" side, the features are serialised (float32,
row-major) and sent over :class:`~phydnn.fullstack.tcp.TcpLink`; the server thread
deserialises them and runs the tail. The kernel's segment counts turn into 802.11a airtime
with :class:`~phydnn.fullstack.wifi.WifiAirtime`. No GNU Radio here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import median

import numpy as np
import torch
from torch import nn

from phydnn.data import ImageDataset, iterate_batches
from phydnn.fullstack.tcp import TcpLink, TcpTransfer
from phydnn.fullstack.wifi import WifiAirtime

__all__ = ["Baseline", "BaselineResult", "run_baseline"]


@dataclass
class Baseline:
    """A named head / tail pair whose head output travels as float32 over TCP."""

    name: str
    head: nn.Module
    tail: nn.Module


@dataclass
class BaselineResult:
    """Per-batch medians (seconds, bytes) and the accuracy over the batches sent."""

    name: str
    accuracy: float
    payload_bytes: int
    overhead_bytes: int
    data_segments: int
    ack_segments: int
    head_s: float
    tail_s: float
    tcp_s: float
    airtime_s: float
    rate_mbps: int
    batches: int
    transfers: list[TcpTransfer] = field(default_factory=list, repr=False)

    @property
    def end_to_end_s(self) -> float:
        """head + 802.11a airtime + tail, the paper's full-stack inference latency."""
        return self.head_s + self.airtime_s + self.tail_s


@torch.no_grad()
def run_baseline(baseline: Baseline, data: ImageDataset, batch_size: int = 64,
                 batches: int = 20, wifi: WifiAirtime | None = None) -> BaselineResult:
    """Send ``batches`` batches of ``data`` through head -> TCP -> tail; measure each part."""
    wifi = wifi or WifiAirtime()
    baseline.head.eval()
    baseline.tail.eval()
    tail_times: list[float] = []
    shape: list[tuple[int, ...]] = []

    def serve(payload: bytes) -> bytes:
        t0 = time.perf_counter()
        z = torch.from_numpy(np.frombuffer(payload, dtype=np.float32).reshape(shape[0]).copy())
        labels = baseline.tail(z).argmax(1).to(torch.uint8).numpy().tobytes()
        tail_times.append(time.perf_counter() - t0)
        return labels

    head_times, transfers, correct, seen = [], [], 0, 0
    with TcpLink(serve) as link:
        for i, (x, y) in enumerate(iterate_batches(data, batch_size)):
            if i >= batches:
                break
            t0 = time.perf_counter()
            z = baseline.head(x).contiguous()
            payload = z.numpy().astype(np.float32, copy=False).tobytes()
            head_times.append(time.perf_counter() - t0)
            shape[:] = [tuple(z.shape)]
            reply, transfer = link.send(payload)
            transfers.append(transfer)
            pred = torch.frombuffer(bytearray(reply), dtype=torch.uint8).long()
            correct += int((pred == y).sum())
            seen += len(y)
    air = [wifi.tcp_us(t.payload_bytes, t.data_segments, t.ack_segments, t.header_bytes) * 1e-6
           for t in transfers]
    return BaselineResult(
        baseline.name, correct / max(seen, 1),
        int(median(t.payload_bytes for t in transfers)),
        int(median(t.overhead_bytes for t in transfers)),
        int(median(t.data_segments for t in transfers)),
        int(median(t.ack_segments for t in transfers)),
        median(head_times), median(tail_times), median(t.seconds for t in transfers),
        median(air), wifi.rate_mbps, len(transfers), transfers)

"""Head and tail inference by backend (:mod:`phydnn.models.backends`), at batch 64 on this CPU.

For PhyDNN's two networks, each backend is timed over the test set in batches of 64 (median
and p99 per batch) and checked against torch eager on every test image: at the head the same
point indices (TransmitGraph: head, embedding scores, argmax, map), at the tail the same
predictions (TailGraph: codebook lookup and tail, fed the one-hot weights of the indices the
head sent, the noiseless link). The bench reports the fastest backend that agrees on every
image and the ratio of eager's head + tail time to the best's. The blocks run eager unless
told otherwise (``backend=``). On one machine the best, torch.compile, was 1.23x eager for
head + tail (and costs seconds of compilation at every program start); on a slower one
compile at the head and frozen TorchScript at the tail made 1.53-1.55x (docs/bench.md).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from phydnn.models.backends import BACKENDS, runner

__all__ = ["best_backends", "measure_backends"]

BATCH = 64


def _side(graph: torch.nn.Module, inputs: list[torch.Tensor], backends: list[str]
          ) -> dict[str, tuple[torch.Tensor, np.ndarray, float]]:
    """Every backend's outputs on ``inputs``, its seconds per batch and its set-up seconds.
    The backends take turns on each batch (round robin), so that a machine that slows down
    for a while slows them all: the ratios hold on a noisy machine."""
    runs, setup = {}, {}
    for backend in backends:
        t0 = time.perf_counter()
        runs[backend] = runner(graph, inputs[0][:1], backend)
        runs[backend](inputs[0])                      # warm-up: compile, first allocation
        setup[backend] = time.perf_counter() - t0
    outs: dict[str, list[torch.Tensor]] = {b: [] for b in backends}
    seconds: dict[str, list[float]] = {b: [] for b in backends}
    for batch in inputs:
        for backend in backends:
            t0 = time.perf_counter()
            outs[backend].append(runs[backend](batch))
            seconds[backend].append(time.perf_counter() - t0)
    return {b: (torch.cat(outs[b]), np.asarray(seconds[b]), setup[b]) for b in backends}


def measure_backends(model_path: str, images: int = 10000,
                     backends: tuple[str, ...] = BACKENDS) -> list[dict[str, Any]]:
    """One row per (side, backend): median and p99 ms per batch of 64, set-up seconds
    (export, compilation, the first call), and the share of the ``images`` test images on
    which it agrees with eager."""
    from phydnn.codecs import load_receiver, load_transmitter
    from phydnn.models.phydnn_net import TailGraph, TransmitGraph

    if "eager" not in backends:
        backends = ("eager", *backends)
    tx = load_transmitter(model_path)
    model = tx.model
    tail_model = load_receiver(model_path, receiver="hard").model
    x = tx.test_inputs(images)
    head = _side(TransmitGraph(model), list(torch.split(x, BATCH)), list(backends))
    # what the tail hears on a noiseless link: the one-hot weights of the indices sent
    index = tail_model.pi_inv[head["eager"][0]]
    weights = torch.nn.functional.one_hot(index, tail_model.order).float()
    tail = _side(TailGraph(tail_model), list(torch.split(weights, BATCH)),
                 [b for b in backends if b != "channels_last"])   # (N, H', W', M): no channels
    rows: list[dict[str, Any]] = []
    for side, results in (("head", head), ("tail", tail)):
        decide = (lambda out: out) if side == "head" else (lambda out: out.argmax(1))
        reference = decide(results["eager"][0])
        for backend, (out, seconds, setup) in results.items():
            rows.append({"side": side, "backend": backend,
                         "median_ms": float(np.median(seconds) * 1e3),
                         "p99_ms": float(np.percentile(seconds, 99) * 1e3),
                         "setup_s": float(setup), "images": len(x),
                         "agree": float((decide(out) == reference).float().mean())})
    return rows


def best_backends(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest backend that agrees on every image, per side, and eager's head + tail
    median time over the best's."""
    best = {}
    for side in ("head", "tail"):
        ok = [r for r in rows if r["side"] == side and r["agree"] == 1.0]
        best[side] = min(ok, key=lambda r: r["median_ms"])
    eager = {r["side"]: r for r in rows if r["backend"] == "eager"}
    speedup = (eager["head"]["median_ms"] + eager["tail"]["median_ms"]) / \
        (best["head"]["median_ms"] + best["tail"]["median_ms"])
    return {"head": best["head"]["backend"], "tail": best["tail"]["backend"],
            "speedup": float(speedup)}

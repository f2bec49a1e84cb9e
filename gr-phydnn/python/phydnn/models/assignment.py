"""Constellation assignment: which PSK point carries which embedding (the map pi).

Paper 003, Sec. III-B: "closer embeddings are associated with adjacent points in the
constellation to improve the modulation performance". PSK points form a ring in which every
point has two neighbours, the most likely confusions at moderate SNR; so we look for the
ordering of the embeddings around the ring with the smallest total distance between
neighbours: a shortest Hamiltonian cycle (travelling salesman tour). For M <= 9 it is found
exactly by enumeration; for larger M by nearest-neighbour tours improved with 2-opt.
``pi[k]`` is the point index of embedding k.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import torch
from torch import Tensor

__all__ = ["assign_constellation", "cycle_length", "fingerprint"]

EXACT_LIMIT = 9


def cycle_length(dist: np.ndarray, order: list[int] | np.ndarray) -> float:
    """Total distance around the ring visiting embeddings in ``order``."""
    o = np.asarray(order)
    return float(dist[o, np.roll(o, -1)].sum())


def _exact_tour(dist: np.ndarray) -> list[int]:
    m = len(dist)
    best, best_len = list(range(m)), float("inf")
    for perm in itertools.permutations(range(1, m)):
        if m > 2 and perm[0] > perm[-1]:  # each ring once, not also reversed
            continue
        tour = [0, *perm]
        length = cycle_length(dist, tour)
        if length < best_len:
            best, best_len = tour, length
    return best


def _two_opt(dist: np.ndarray, tour: list[int]) -> list[int]:
    improved = True
    t = list(tour)
    m = len(t)
    while improved:
        improved = False
        for i in range(m - 1):
            for j in range(i + 2, m if i else m - 1):
                a, b, c, d = t[i], t[i + 1], t[j], t[(j + 1) % m]
                if dist[a, c] + dist[b, d] < dist[a, b] + dist[c, d] - 1e-12:
                    t[i + 1:j + 1] = reversed(t[i + 1:j + 1])
                    improved = True
    return t


def _heuristic_tour(dist: np.ndarray) -> list[int]:
    m = len(dist)
    best, best_len = None, float("inf")
    for start in range(m):
        tour, left = [start], set(range(m)) - {start}
        while left:
            nxt = min(left, key=lambda j: dist[tour[-1], j])
            tour.append(nxt)
            left.remove(nxt)
        tour = _two_opt(dist, tour)
        length = cycle_length(dist, tour)
        if length < best_len:
            best, best_len = tour, length
    return best


def assign_constellation(embeddings: Tensor) -> Tensor:
    """The map pi (int64, shape (M,)): embedding k is sent on PSK point pi[k]."""
    e = embeddings.detach().double().cpu()
    dist = torch.cdist(e, e).numpy()
    m = len(dist)
    tour = _exact_tour(dist) if m <= EXACT_LIMIT else _heuristic_tour(dist)
    pi = torch.empty(m, dtype=torch.int64)
    pi[torch.tensor(tour)] = torch.arange(m)
    return pi


def fingerprint(embeddings: Tensor, pi: Tensor) -> str:
    """A short hash of codebook and map: TX and RX must agree on both (DESIGN.md)."""
    h = hashlib.sha256()
    h.update(embeddings.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    h.update(pi.to(torch.int64).cpu().numpy().tobytes())
    return h.hexdigest()[:16]

"""The embedding (codebook) layer of a PhyDNN and its k-means initialisation.

Paper 003, Sec. III-B, Eq. (2): each spatial slice H_i(x) (a C'-vector) of the head output is
scored against a dictionary delta = [e_1 .. e_M] of M learnable embeddings,
f_i(x) = softmax(delta^T H_i(x)), giving the categorical p(z_i | x) of Eq. (1). The receiver's
embedding lookup uses the same dictionary: a hard index k gives delta[k]; a posterior p over the
M indices gives sum_k p_k delta[k] (our soft receiver). Before training, the dictionary is set
to k-means centroids of head-output slices over the training set (paper: "we first cluster the
head DNN output slices").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from phydnn.errors import ConfigError, check_choice, check_positive

__all__ = ["EmbeddingCodebook", "kmeans", "SCORINGS"]

SCORINGS = ("distance", "inner")


class EmbeddingCodebook(nn.Module):
    """M embeddings of dimension C'. Feature maps (N, C', H, W) <-> per-position distributions.

    ``logits(feats)`` -> (N, H, W, M) inner-product scores (Eq. 2, before the softmax);
    ``lookup(weights)`` with one-hot or probability weights (N, H, W, M) -> (N, C', H, W).
    """

    def __init__(self, num_embeddings: int, dim: int, scoring: str = "distance") -> None:
        super().__init__()
        check_positive("M", num_embeddings, integer=True)
        check_positive("embedding dim", dim, integer=True)
        self.scoring = check_choice("scoring", scoring, SCORINGS)
        self.embeddings = nn.Parameter(torch.randn(num_embeddings, dim) / dim ** 0.5)

    @property
    def num_embeddings(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def logits(self, feats: Tensor) -> Tensor:
        """delta^T H_i(x) for every position i: (N, C', H, W) -> (N, H, W, M)."""
        if feats.dim() != 4 or feats.shape[1] != self.dim:
            raise ConfigError(f"features must have shape (N, {self.dim}, H, W), "
                              f"got {tuple(feats.shape)}")
        scores = torch.einsum("nchw,mc->nhwm", feats, self.embeddings)
        if self.scoring == "distance":
            scores = scores - 0.5 * self.embeddings.square().sum(1)
        return scores

    def lookup(self, weights: Tensor) -> Tensor:
        """sum_k w_k delta[k] per position: (N, H, W, M) -> (N, C', H, W)."""
        return torch.einsum("nhwm,mc->nchw", weights, self.embeddings)

    def lookup_indices(self, indices: Tensor) -> Tensor:
        """delta[k] per position: (N, H, W) int -> (N, C', H, W)."""
        return self.embeddings[indices].permute(0, 3, 1, 2)

    @torch.no_grad()
    def keep(self, indices: Tensor) -> None:
        """Keep only the embeddings at ``indices`` (in that order): codebook pruning."""
        self.embeddings = nn.Parameter(self.embeddings[indices].clone())


@torch.no_grad()
def kmeans(points: Tensor, k: int, iterations: int = 25,
           generator: torch.Generator | None = None) -> Tensor:
    """k-means++ seeding then Lloyd iterations; returns (k, D) centroids.

    Empty clusters are re-seeded with the point farthest from its centroid.
    """
    check_positive("k", k, integer=True)
    if points.shape[0] < k:
        raise ConfigError(f"k-means needs at least k={k} points, got {points.shape[0]}")
    x = points.float()
    first = torch.randint(0, len(x), (1,), generator=generator)
    centroids = x[first]
    for _ in range(1, k):
        d2 = torch.cdist(x, centroids).min(1).values.square()
        nxt = torch.multinomial(d2 / d2.sum(), 1, generator=generator)
        centroids = torch.cat([centroids, x[nxt]])
    for _ in range(iterations):
        dist = torch.cdist(x, centroids)
        assign = dist.argmin(1)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp_min(1)[:, None])
        if bool(empty.any()):
            far = dist.gather(1, assign[:, None]).squeeze(1).topk(int(empty.sum())).indices
            centroids[empty] = x[far]
    return centroids

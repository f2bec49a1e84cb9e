"""The soft receiver's source model: which embedding the transmitter sends, and next to what.

The head's features vary slowly over the image, so neighbouring positions usually carry the
same embedding (shipped Fashion-MNIST model, M = 4: 76 % of horizontal and 87 % of vertical
neighbours). Paper 003 decides every symbol on its own; the soft receiver here also asks the
four neighbours, the idea of source-controlled channel decoding (Hagenauer, IEEE Trans.
Commun. 43(9), 1995): residual redundancy of the source is a priori knowledge for the
detector. With the neighbours taken as independent given the centre (one round of belief
propagation on the 4-neighbour grid),

    p(z_i = k | y) ~ p(k) p(y_i | k) prod_{n in N(i)} sum_j p(z_n = j | z_i = k) p(y_n | j),

where p(k) is the marginal (the prior) and p(z_n = j | z_i = k) comes from the joint counts of
horizontally and vertically adjacent embeddings over training images (``pairs``). With
independent pairs every message is constant in k and this is the plain Bayes posterior with
the prior. An erased position (a lost segment) has a flat likelihood, so it takes what its
received neighbours say; an erased neighbour says nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["adjacent_pair_counts", "context_posterior", "independent_pairs"]


def adjacent_pair_counts(indices: Tensor, order: int) -> Tensor:
    """Counts (2, M, M) of (this, next) embedding indices over (N, H, W) grids: [0] along a
    row (next = right neighbour), [1] along a column (next = the one below)."""
    idx = indices.long()
    out = torch.zeros(2, order * order, dtype=torch.int64, device=idx.device)
    for axis, dim in enumerate((-1, -2)):
        n = idx.shape[dim]
        pair = idx.narrow(dim, 0, n - 1) * order + idx.narrow(dim, 1, n - 1)
        out[axis] = torch.bincount(pair.flatten(), minlength=order * order)
    return out.view(2, order, order)


def independent_pairs(prior: Tensor) -> Tensor:
    """Joint pair probabilities (2, M, M) of a source without memory: p(k) p(j)."""
    return torch.outer(prior, prior).expand(2, -1, -1).clone()


def context_posterior(loglik: Tensor, prior: Tensor, pairs: Tensor) -> Tensor:
    """Posterior (..., H, W, M) over embeddings from per-symbol log-likelihoods log p(y_i | k)
    (..., H, W, M), the prior p(k) (M,) and joint pair probabilities (2, M, M)."""
    evidence = torch.softmax(loglik, -1)          # p(y_n | j), normalised per position
    log_post = loglik + prior.clamp_min(1e-30).log()
    for joint, dim in ((pairs[0], -2), (pairs[1], -3)):
        ahead = joint / joint.sum(1, keepdim=True)         # p(next = j | this = k)
        behind = joint.T / joint.T.sum(1, keepdim=True)    # p(previous = j | this = k)
        n = loglik.shape[dim]
        none = torch.zeros_like(log_post.narrow(dim, 0, 1))  # no neighbour beyond the edge
        from_next = _message(evidence.narrow(dim, 1, n - 1), ahead)
        from_previous = _message(evidence.narrow(dim, 0, n - 1), behind)
        log_post = (log_post + torch.cat([from_next, none], dim)
                    + torch.cat([none, from_previous], dim))
    return torch.softmax(log_post, -1)


def _message(evidence: Tensor, table: Tensor) -> Tensor:
    """log sum_j p(neighbour = j | this = k) p(y_neighbour | j), per position and k."""
    return torch.einsum("...j,kj->...k", evidence, table.to(evidence.dtype)).clamp_min(
        1e-30).log()

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
import torch.nn.functional as F
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
    (..., H, W, M; any term constant in k may be left out), the prior p(k) (M,) and joint
    pair probabilities (2, M, M).

    Positions are laid out channel-first and the four messages come from one 3 x 3
    convolution of the neighbours' evidence; outside the grid the evidence is flat (1/M), so
    the message from beyond an edge is the same for every k.
    """
    shape, order = loglik.shape, loglik.shape[-1]
    ll = loglik.reshape(-1, *shape[-3:]).permute(0, 3, 1, 2)          # (N, M, H, W)
    evidence = (ll - ll.amax(1, keepdim=True)).exp()
    evidence = evidence / evidence.sum(1, keepdim=True)                 # p(y_n | j), normalised
    padded = F.pad(evidence, (1, 1, 1, 1), value=1.0 / order)
    messages = F.conv2d(padded, _neighbour_kernel(pairs).to(evidence.dtype))
    messages = messages.view(len(ll), 4, order, *ll.shape[2:]).prod(1)
    post = evidence * messages * prior.to(evidence.dtype).view(-1, 1, 1)
    post = post / post.sum(1, keepdim=True)
    return post.permute(0, 2, 3, 1).reshape(shape)


def _neighbour_kernel(pairs: Tensor) -> Tensor:
    """Weights (4M, M, 3, 3): output group g, row k, at the offset of neighbour g, holds
    p(neighbour = j | centre = k) for the right, left, lower and upper neighbour."""
    order = pairs.shape[-1]
    kernel = pairs.new_zeros(4 * order, order, 3, 3)
    offsets = ((pairs[0], 1, 2), (pairs[0].T, 1, 0), (pairs[1], 2, 1), (pairs[1].T, 0, 1))
    for g, (joint, row, col) in enumerate(offsets):
        kernel[g * order:(g + 1) * order, :, row, col] = joint / joint.sum(1, keepdim=True)
    return kernel

"""PhyDNN: a split classifier whose split point speaks M-PSK (paper 003, Sec. III, Fig. 2-3).

::

    TX (device)                              RX (edge server)
    x -> head H -> H_i(x) -> delta^T H_i(x)  y -> demod g_m: hard index k or posterior p
      (Eq. 2) -> z_i = argmax (or Gumbel)      -> pi^-1 -> lookup: delta[k] or sum_k p_k delta[k]
      -> pi(z_i) -> PSK point h_m ~channel~>   -> tail T -> class logits

In training (Alg. 1) z is a straight-through Gumbel-softmax sample (temperature ``tau``), the
channel adds CN(0, sigma^2) per symbol, and the receiver's hard decision passes gradients
through the demodulator's posterior (straight-through), so symbol errors reach the tail and
gradients reach the head and the codebook. The binding path T(H(x)) (Eq. 9) skips codebook
and channel. ``pi`` (embedding -> point) is a buffer, part of the model and its fingerprint.

The hard receiver is the paper's nearest-point decision. The soft receiver's posterior is
Bayes' with a source model (:mod:`phydnn.models.context`): the prior p(k) = how often the
transmitter sends each embedding (buffer ``prior``) and the joint statistics of adjacent
embeddings (buffer ``pairs``), both counted over training images when a model is saved
(uniform and independent until then, and in bundles made before they existed, where the
posterior is the plain per-symbol one). With M = 4 the embeddings are used unequally (about
31/33/16/20 % for the shipped model) and neighbours mostly agree, so an ambiguous symbol leans
toward what its neighbours and the usage make likely.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phydnn.errors import check_choice, check_power_of_two
from phydnn.models.assignment import assign_constellation, fingerprint
from phydnn.models.codebook import EmbeddingCodebook
from phydnn.models.context import context_posterior, independent_pairs
from phydnn.models.modes import eval_mode, frozen_batchnorm_stats
from phydnn.phy import PSKConstellation
from phydnn.phy.channel_spec import ChannelSpec, through

__all__ = ["PhyDNN", "RECEIVERS", "TailGraph", "TransmitGraph", "build_phydnn"]

RECEIVERS = ("hard", "soft")


class PhyDNN(nn.Module):
    """Head + embedding codebook + PSK link + tail, built from a split backbone."""

    def __init__(self, head: nn.Module, tail: nn.Module, num_embeddings: int,
                 feature_shape: tuple[int, int, int], scoring: str = "distance") -> None:
        super().__init__()
        check_power_of_two("M", num_embeddings)
        self.head, self.tail = head, tail
        self.feature_shape = tuple(int(v) for v in feature_shape)  # head output (C', H', W')
        self.codebook = EmbeddingCodebook(num_embeddings, self.feature_shape[0], scoring)
        self.constellation = PSKConstellation(num_embeddings)
        self.register_buffer("pi", torch.arange(num_embeddings))
        self.register_buffer("prior", torch.full((num_embeddings,), 1.0 / num_embeddings))
        self.register_buffer("pairs", independent_pairs(self.prior))

    # --- the codebook and its map -------------------------------------------------------
    @property
    def order(self) -> int:
        """M: number of embeddings = PSK order."""
        return self.codebook.num_embeddings

    @property
    def bits_per_symbol(self) -> int:
        return int(math.log2(self.order))

    @property
    def positions_per_image(self) -> int:
        """N_s: symbols sent per image, one per spatial position of the head output."""
        return self.feature_shape[1] * self.feature_shape[2]

    @property
    def bits_per_image(self) -> int:
        """Payload bits on air per image: positions x log2(M) (DESIGN.md, Rate)."""
        return self.positions_per_image * self.bits_per_symbol

    @property
    def pi_inv(self) -> Tensor:
        """Point index -> embedding index."""
        return torch.argsort(self.pi)

    @property
    def point_prior(self) -> Tensor:
        """p(point j) = prior of the embedding it carries: the soft receiver's prior."""
        return self.prior[self.pi_inv]

    @torch.no_grad()
    def set_prior(self, usage: Tensor, pair_counts: Tensor | None = None) -> None:
        """The soft receiver's source model from what the transmitter sends over training
        images: p(z = k) from the usage counts (M,), and the joint probabilities of adjacent
        embeddings from :func:`~phydnn.models.context.adjacent_pair_counts` (2, M, M), both
        add-one smoothed so nothing is ruled out; without pair counts, independent
        neighbours. Receiver side only: the symbols sent and the fingerprint do not change."""
        counts = usage.to(self.prior.device, torch.float64) + 1.0
        self.prior = (counts / counts.sum()).to(self.prior.dtype)
        if pair_counts is None:
            self.pairs = independent_pairs(self.prior)
            return
        joint = pair_counts.to(self.pairs.device, torch.float64) + 1.0
        self.pairs = (joint / joint.sum((1, 2), keepdim=True)).to(self.pairs.dtype)

    def fingerprint(self) -> str:
        return fingerprint(self.codebook.embeddings, self.pi)

    def reassign_constellation(self) -> None:
        """Recompute pi so that close embeddings sit on adjacent PSK points (Sec. III-B)."""
        self.pi = assign_constellation(self.codebook.embeddings).to(self.pi.device)

    @torch.no_grad()
    def prune(self, usage: Tensor, new_order: int) -> Tensor:
        """Keep the ``new_order`` most used embeddings (Sec. III-C), re-map; returns kept ids."""
        check_power_of_two("M", new_order)
        keep = torch.sort(usage.argsort(descending=True)[:new_order]).values
        self.codebook.keep(keep.to(self.codebook.embeddings.device))
        self.constellation = PSKConstellation(new_order).to(self.pi.device)
        self.pi = torch.arange(new_order, device=self.pi.device)
        self.prior = torch.full((new_order,), 1.0 / new_order, device=self.pi.device)
        self.pairs = independent_pairs(self.prior)
        self.reassign_constellation()
        return keep

    # --- transmitter ----------------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        """Codebook logits (N, H', W', M) of p(z_i | x) (Eq. 1-2)."""
        return self.codebook.logits(self.head(x))

    @torch.no_grad()
    def transmit(self, x: Tensor) -> Tensor:
        """Point indices (N, H', W') to send: pi(argmax_k p(z_i = k | x))."""
        return self.transmit_features(self.head(x))

    @torch.no_grad()
    def transmit_features(self, feats: Tensor) -> Tensor:
        """As :meth:`transmit`, from head features already computed."""
        return self.pi[self.codebook.logits(feats).argmax(-1)]

    # --- receiver -------------------------------------------------------------------------
    def receive(self, received: Tensor, noise_var: float | Tensor,
                receiver: str = "hard") -> Tensor:
        """Class logits from received symbols (N, H', W'): hard or soft embedding lookup."""
        check_choice("receiver", receiver, RECEIVERS)
        if receiver == "hard":
            return self.tail(self.codebook.lookup_indices(self.decide(received)))
        return self.tail(self.codebook.lookup(self.posterior(received, noise_var)))

    def decide(self, received: Tensor) -> Tensor:
        """The hard receiver's embedding index per position (N, H', W'): the nearest point,
        mapped back through pi^-1 (the paper's receiver)."""
        return self.pi_inv[self.constellation.demodulate_hard(received)]

    def posterior(self, received: Tensor, noise_var: float | Tensor,
                  erased: Tensor | None = None) -> Tensor:
        """The soft receiver's p(z_i = k | y) over embeddings (N, H', W', M): per-symbol
        likelihoods, the prior and the neighbours' evidence (:mod:`phydnn.models.context`).
        ``erased`` (N, H', W') bool marks positions with no symbol: flat likelihood there."""
        loglik = self.constellation.log_likelihood(received, noise_var)[..., self.pi]
        if erased is not None:
            loglik = loglik.masked_fill(erased.unsqueeze(-1), 0.0)
        return context_posterior(loglik, self.prior, self.pairs)

    def simulate(self, x: Tensor, noise_var: float | Tensor, receiver: str = "hard",
                 generator: torch.Generator | None = None,
                 channel: ChannelSpec | None = None) -> Tensor:
        """The whole link in torch at inference: transmit, channel (AWGN unless ``channel``
        says otherwise), receive -> class logits."""
        sym = self.constellation.modulate(self.transmit(x))
        return self.receive(*through(channel, sym, noise_var, generator), receiver)

    # --- training (Alg. 1) ----------------------------------------------------------------
    def forward(self, x: Tensor, noise_var: Tensor | float, tau: float = 0.5,
                soft: bool = False, sample: bool = True,
                channel: ChannelSpec | None = None) -> dict[str, Any]:
        """One Monte-Carlo realisation of Eq. (7) plus the binding path of Eq. (9).

        Returns ``logits`` (through the channel), ``bind_logits`` (T(H(x))), ``entropy``
        (sum_i H(z_i|x) per image, mean over the batch) and ``symbol_errors`` (fraction).
        ``noise_var`` is a scalar or one value per image (N,); ``soft`` uses the posterior
        lookup instead of the hard one for this realisation; ``sample`` False sends the argmax
        embedding, as at inference, instead of a Gumbel-softmax sample (straight-through).
        ``channel``: a fading or phase-error channel (:class:`~phydnn.phy.ChannelSpec`, the
        receiver equalising with its estimate) instead of AWGN.
        """
        feats = self.head(x)
        logits_z = self.codebook.logits(feats)
        log_p = F.log_softmax(logits_z, -1)
        entropy = -(log_p.exp() * log_p).sum(-1).flatten(1).sum(1).mean()
        if sample:
            z = F.gumbel_softmax(logits_z, tau=tau, hard=True)       # (N, H, W, M), ST
        else:
            probs = log_p.exp()
            z = F.one_hot(probs.argmax(-1), self.order).to(probs.dtype) + probs - probs.detach()
        sym = self.constellation.modulate_onehot(z[..., self.pi_inv])  # embedding -> point
        nv = torch.as_tensor(noise_var, dtype=torch.float32, device=x.device)
        nv = nv.view(-1, 1, 1) if nv.dim() else nv
        y, nv = through(channel, sym, nv)
        post = self.constellation.demodulate_soft(y, nv)                # over points
        if soft:
            weights = self.posterior(y, nv)                              # over embeddings
        else:
            hard = F.one_hot(post.argmax(-1), self.order).to(post.dtype)
            weights = (hard + post - post.detach())[..., self.pi]        # straight-through
        logits = self.tail(self.codebook.lookup(weights))
        sent = z.argmax(-1)
        errors = (self.pi_inv[post.argmax(-1)] != sent).float().mean()
        with frozen_batchnorm_stats(self.tail):  # running stats belong to the channel path
            bind_logits = self.tail(feats)
        return {"logits": logits, "bind_logits": bind_logits, "entropy": entropy,
                "symbol_errors": errors.detach(), "indices": sent.detach()}


def build_phydnn(backbone: nn.Module, split: str, num_embeddings: int,
                 input_shape: tuple[int, int, int], scoring: str = "distance") -> PhyDNN:
    """A PhyDNN over ``backbone`` split at ``split``; the codebook's dimension is the head's
    channel count at that split."""
    head, tail = backbone.split(split)
    with eval_mode(head), torch.no_grad():
        feat = head(torch.zeros(1, *input_shape))
    return PhyDNN(head, tail, num_embeddings, tuple(feat.shape[1:]), scoring)


class TransmitGraph(nn.Module):
    """What the device runs per batch, as one module (for an inference backend or an ONNX
    export: :mod:`phydnn.models.backends`): images -> point indices (N, H', W'), int64,
    pi(argmax_k delta_k^T H_i(x)) (paper 003 Eq. 2, Sec. III-B)."""

    def __init__(self, model: PhyDNN) -> None:
        super().__init__()
        self.head, self.codebook = model.head, model.codebook
        self.register_buffer("pi", model.pi.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.pi[self.codebook.logits(self.head(x)).argmax(-1)]


class TailGraph(nn.Module):
    """What the server runs per batch after demodulation, as one module: weights over the M
    embeddings (N, H', W', M) -> class logits, T(sum_k w_k delta_k) (the soft receiver's
    lookup; one-hot weights are the hard receiver's)."""

    def __init__(self, model: PhyDNN) -> None:
        super().__init__()
        self.tail, self.codebook = model.tail, model.codebook

    def forward(self, weights: Tensor) -> Tensor:
        return self.tail(self.codebook.lookup(weights))


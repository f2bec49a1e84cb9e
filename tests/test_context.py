"""The soft receiver's source model: pair counts, the neighbour-aware posterior, erasures."""

from __future__ import annotations

import math

import pytest
import torch

from phydnn.models.context import adjacent_pair_counts, context_posterior, independent_pairs
from phydnn.phy import PSKConstellation, add_awgn, psk_ser_theory, snr_db_to_noise_var


def _blocky_source(n: int, side: int, block: int, order: int, seed: int) -> torch.Tensor:
    """(n, side, side) indices constant over block x block tiles: a source with memory."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randint(order, (n, side // block, side // block), generator=gen)
    return coarse.repeat_interleave(block, 1).repeat_interleave(block, 2)


def test_pair_counts_count_right_and_lower_neighbours():
    idx = torch.randint(5, (3, 6, 7), generator=torch.Generator().manual_seed(1))
    counts = adjacent_pair_counts(idx, 5)
    want = torch.zeros(2, 5, 5, dtype=torch.int64)
    for g in idx:
        for r in range(6):
            for c in range(7):
                if c + 1 < 7:
                    want[0, g[r, c], g[r, c + 1]] += 1
                if r + 1 < 6:
                    want[1, g[r, c], g[r + 1, c]] += 1
    assert torch.equal(counts, want)
    assert counts[0].sum() == 3 * 6 * 6 and counts[1].sum() == 3 * 5 * 7


def test_independent_neighbours_give_the_plain_bayes_posterior():
    """Messages from a memoryless source are constant in k: p(k | y) ~ p(k) p(y | k)."""
    gen = torch.Generator().manual_seed(2)
    loglik = torch.randn(4, 5, 6, 8, generator=gen) * 3
    prior = torch.softmax(torch.randn(8, generator=gen), 0)
    post = context_posterior(loglik, prior, independent_pairs(prior))
    assert torch.allclose(post, torch.softmax(loglik + prior.log(), -1), atol=1e-6)


@pytest.mark.parametrize("snr_db", [2.0, 6.0])
def test_neighbours_correct_symbol_errors_of_a_source_with_memory(snr_db):
    """QPSK over AWGN, indices constant over 4 x 4 tiles: the per-symbol MAP decision errs
    at the theoretical rate, the neighbour-aware one at well under half of it."""
    const = PSKConstellation(4)
    idx = _blocky_source(40, 32, 4, 4, seed=3)
    nv = snr_db_to_noise_var(snr_db)
    y = add_awgn(const.modulate(idx), nv, torch.Generator().manual_seed(4))
    loglik = const.log_likelihood(y, nv)
    prior = torch.full((4,), 0.25)
    counts = adjacent_pair_counts(_blocky_source(40, 32, 4, 4, seed=5), 4) + 1.0
    pairs = counts / counts.sum((1, 2), keepdim=True)
    plain = (context_posterior(loglik, prior, independent_pairs(prior)).argmax(-1) != idx)
    joint = (context_posterior(loglik, prior, pairs).argmax(-1) != idx)
    theory = float(psk_ser_theory(4, snr_db))
    n = idx.numel()
    assert abs(plain.float().mean().item() - theory) < 4 * math.sqrt(theory / n)
    assert joint.float().mean().item() < 0.5 * theory


def test_an_erased_position_takes_what_its_neighbours_say():
    """Flat likelihood at an erased symbol: its posterior follows the received neighbours; in
    the middle of an erased block (no received neighbour) it is the prior."""
    const = PSKConstellation(4)
    idx = torch.full((1, 9, 9), 2)
    loglik = const.log_likelihood(const.modulate(idx), snr_db_to_noise_var(10.0))
    erased = torch.zeros(1, 9, 9, dtype=torch.bool)
    erased[0, 4, 4] = True                           # a lone hole
    erased[0, 0:3, 0:3] = True                       # a 3 x 3 hole: (1, 1) has no neighbour
    loglik = loglik.masked_fill(erased.unsqueeze(-1), 0.0)
    prior = torch.tensor([0.4, 0.3, 0.2, 0.1])
    same = torch.full((4, 4), 0.02) + torch.eye(4) * 0.9
    pairs = (same / same.sum()).expand(2, -1, -1)
    post = context_posterior(loglik, prior, pairs)[0]
    assert post[4, 4].argmax() == 2 and post[4, 4, 2] > 0.99      # four received neighbours
    assert post[0, 2].argmax() == 2 and 0.5 < post[0, 2, 2] < post[4, 4, 2]   # one
    for r, c in ((1, 1), (0, 0)):                                       # none
        assert torch.allclose(post[r, c], prior, atol=1e-6)

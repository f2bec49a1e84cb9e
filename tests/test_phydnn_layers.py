"""PhyDNN building blocks: codebook (Eq. 2), k-means, constellation assignment, the network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from phydnn.data import ImageDataset
from phydnn.errors import ConfigError
from phydnn.models import (
    EmbeddingCodebook,
    assign_constellation,
    build_backbone,
    build_phydnn,
    kmeans,
)
from phydnn.models.assignment import cycle_length
from phydnn.models.modes import batchnorm_layers
from phydnn.phy import add_awgn
from phydnn.training.recalibrate import recalibrate_tail_batchnorm


def _ring(m: int, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings on a noisy ring in ``dim`` dimensions, stored in shuffled order."""
    g = torch.Generator().manual_seed(seed)
    ang = torch.arange(m) * 2 * math.pi / m
    basis = torch.linalg.qr(torch.randn(dim, 2, generator=g)).Q
    pts = torch.stack([ang.cos(), ang.sin()], 1) @ basis.T * 3 + 0.01 * torch.randn(m, dim,
                                                                                    generator=g)
    perm = torch.randperm(m, generator=g)
    return pts[perm], perm


@pytest.mark.parametrize("m", [4, 8, 16])
def test_nearest_embeddings_go_to_adjacent_points(m):
    emb, _ = _ring(m, seed=m)
    pi = assign_constellation(emb)
    assert sorted(pi.tolist()) == list(range(m))
    d = torch.cdist(emb, emb) + torch.eye(m) * 1e9
    for k in range(m):
        nearest = int(d[k].argmin())
        gap = (int(pi[k]) - int(pi[nearest])) % m
        assert gap in (1, m - 1), (k, nearest, pi.tolist())


@pytest.mark.parametrize("m", [4, 8, 16])
def test_assignment_is_no_worse_than_random_maps(m):
    emb = torch.randn(m, 16, generator=torch.Generator().manual_seed(m))
    dist = torch.cdist(emb.double(), emb.double()).numpy()
    tour = torch.argsort(assign_constellation(emb)).numpy()
    best = cycle_length(dist, tour)
    rng = np.random.default_rng(0)
    assert all(best <= cycle_length(dist, rng.permutation(m)) + 1e-9 for _ in range(2000))


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g) * 10
    pts = (centres[:, None] + torch.randn(4, 200, 8, generator=g) * 0.1).reshape(-1, 8)
    found = kmeans(pts, 4, generator=g)
    err = torch.cdist(found, centres).min(1).values
    assert float(err.max()) < 0.1


def test_kmeans_needs_enough_points():
    with pytest.raises(ConfigError, match="k=8"):
        kmeans(torch.randn(5, 2), 8)


def test_distance_scoring_picks_the_nearest_embedding():
    cb = EmbeddingCodebook(4, 3)
    with torch.no_grad():
        cb.embeddings.copy_(torch.tensor([[0.0, 0, 0], [1, 0, 0], [5, 0, 0], [0, 4, 0]]))
    feats = torch.tensor([[0.9, 0, 0], [4.0, 0, 0], [0.1, 0.1, 0]]).T.reshape(1, 3, 1, 3)
    assert cb.logits(feats).argmax(-1).flatten().tolist() == [1, 2, 0]
    inner = EmbeddingCodebook(4, 3, scoring="inner")
    inner.embeddings.data.copy_(cb.embeddings.data)
    # Eq. (2) as written prefers the longest embedding for non-negative slices
    assert inner.logits(feats).argmax(-1).flatten().tolist() == [2, 2, 2]
    back = cb.lookup_indices(torch.tensor([[[1, 2, 0]]]))
    assert torch.equal(back, cb.lookup(torch.nn.functional.one_hot(
        torch.tensor([[[1, 2, 0]]]), 4).float()))


@pytest.fixture
def tiny_phydnn():
    net = build_backbone("resnet20", 1, 10).eval()
    model = build_phydnn(net, "stage1", 8, (1, 8, 8))
    model.reassign_constellation()
    return model.eval()


def test_training_forward_reaches_codebook_and_head(tiny_phydnn):
    model = tiny_phydnn.train()
    out = model(torch.randn(6, 1, 8, 8), torch.full((6,), 0.1), tau=0.5)
    assert out["logits"].shape == (6, 10) and out["bind_logits"].shape == (6, 10)
    assert 0 <= out["entropy"].item() <= 64 * math.log(8) + 1e-4
    (out["logits"].logsumexp(1).sum() + out["entropy"]).backward()
    assert float(model.codebook.embeddings.grad.abs().sum()) > 0
    assert float(model.head[0][0].weight.grad.abs().sum()) > 0


def _tail_stats(model) -> list[torch.Tensor]:
    return [t.clone() for m in batchnorm_layers(model.tail)
            for t in (m.running_mean, m.running_var)]


def test_training_forward_without_gumbel_sends_the_argmax(tiny_phydnn):
    """gumbel = false: the sent indices are the inference transmitter's (argmax of Eq. 2) on
    every call, and the straight-through softmax still passes gradients to the codebook."""
    model = tiny_phydnn.train()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        want = model.encode(x).argmax(-1)
    for _ in range(3):
        out = model(x, torch.full((4,), 0.1), tau=0.5, sample=False)
        assert torch.equal(out["indices"], want)
    out["logits"].logsumexp(1).sum().backward()
    assert model.codebook.embeddings.grad is not None
    assert model.codebook.embeddings.grad.abs().sum() > 0


def test_binding_path_leaves_the_tail_statistics_to_the_channel_path(tiny_phydnn):
    """Only the channel path may move the running statistics that the receiver uses."""
    model = tiny_phydnn.train()
    first = batchnorm_layers(model.tail)[0]
    seen: list[torch.Tensor] = []
    first.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].detach().clone()))
    before = first.running_mean.clone()
    model(torch.randn(6, 1, 8, 8), torch.full((6,), 0.1))
    assert len(seen) == 2                     # channel path, then binding path
    channel_only = 0.9 * before + 0.1 * seen[0].mean((0, 2, 3))
    both = 0.9 * channel_only + 0.1 * seen[1].mean((0, 2, 3))
    assert torch.allclose(first.running_mean, channel_only, atol=1e-6)
    assert not torch.allclose(first.running_mean, both, atol=1e-4)
    assert all(m.momentum == 0.1 for m in batchnorm_layers(model.tail))


def test_recalibration_moves_statistics_only_and_is_repeatable(tiny_phydnn):
    g = torch.Generator().manual_seed(0)
    data = ImageDataset("noise", "train", torch.randint(0, 256, (64, 1, 8, 8), generator=g,
                                                         dtype=torch.uint8),
                        torch.zeros(64, dtype=torch.int64), [str(i) for i in range(10)],
                        (0.5,), (0.25,))
    weights = {k: v.clone() for k, v in tiny_phydnn.state_dict().items()
               if "running" not in k and "num_batches" not in k}
    before = _tail_stats(tiny_phydnn)
    used = recalibrate_tail_batchnorm(tiny_phydnn, data, 12.0, 8.0, 0.5, 48, batch_size=16)
    first = _tail_stats(tiny_phydnn)
    recalibrate_tail_batchnorm(tiny_phydnn, data, 12.0, 8.0, 0.5, 48, batch_size=16)
    assert used == 48 and not tiny_phydnn.training
    assert any(not torch.equal(a, b) for a, b in zip(before, first, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(first, _tail_stats(tiny_phydnn), strict=True))
    after = tiny_phydnn.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in weights.items())
    assert all(m.momentum == 0.1 for m in batchnorm_layers(tiny_phydnn.tail))


def test_noiseless_link_equals_codebook_path_and_soft_equals_hard(tiny_phydnn):
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        idx = tiny_phydnn.encode(x).argmax(-1)
        expected = tiny_phydnn.tail(tiny_phydnn.codebook.lookup_indices(idx))
        hard = tiny_phydnn.simulate(x, 1e-6, "hard")
        soft = tiny_phydnn.simulate(x, 1e-6, "soft")
    assert torch.allclose(hard, expected) and torch.allclose(soft, expected, atol=1e-4)


def test_soft_receiver_posterior_is_bayes_with_the_transmitter_prior(tiny_phydnn, tmp_path):
    """p(k | y) ~ p(k) exp(-|y - s_pi(k)|^2 / sigma^2) with the add-one-smoothed usage as p(k);
    a symbol half way between two points leans to the likelier embedding; the prior is saved
    with the model, and a bundle made without one loads with a uniform prior."""
    from safetensors.torch import load_file, save_file

    from phydnn.models import load_phydnn, save_phydnn

    model = tiny_phydnn
    usage = torch.tensor([50, 0, 10, 200, 5, 5, 30, 700])
    model.set_prior(usage)
    prior = (usage + 1.0) / (usage.sum() + 8.0)
    assert torch.allclose(model.prior, prior.float())
    pts, nv = model.constellation.points, 0.2
    a, b = 0, 1                                       # adjacent points
    y = ((pts[a] + pts[b]) / 2).view(1, 1, 1)
    post = model.constellation.demodulate_soft(y, nv, model.point_prior)[0, 0, 0]
    like = torch.exp(-(y[0, 0, 0] - pts).abs() ** 2 / nv)
    manual = like * prior.float()[model.pi_inv]
    assert torch.allclose(post, manual / manual.sum(), atol=1e-6)
    ka, kb = model.pi_inv[a], model.pi_inv[b]
    assert (post[a] > post[b]) == bool(prior[ka] > prior[kb])
    received = y.expand(2, 8, 8).clone()
    with torch.no_grad():
        want = model.tail(model.codebook.lookup(
            model.constellation.demodulate_soft(received, nv, model.point_prior)[..., model.pi]))
        assert torch.allclose(model.receive(received, nv, "soft"), want)
    card = {"backbone": "resnet20", "in_channels": 1, "num_classes": 10, "split": "stage1",
            "input_shape": [1, 8, 8]}
    save_phydnn(tmp_path / "m", model, card)
    again, saved = load_phydnn(tmp_path / "m")
    assert torch.equal(again.prior, model.prior) and len(saved["prior"]) == 8
    state = load_file(tmp_path / "m.safetensors")
    del state["prior"], state["pairs"]
    save_file(state, tmp_path / "m.safetensors", metadata={"format": "pt"})
    old, _ = load_phydnn(tmp_path / "m")
    assert torch.equal(old.prior, torch.full((8,), 1 / 8))
    assert torch.allclose(old.pairs, torch.full((2, 8, 8), 1 / 64))


def test_neighbour_statistics_are_saved_and_used_by_the_soft_receiver(tiny_phydnn, tmp_path):
    """set_prior with pair counts stores smoothed joint probabilities; the soft receiver's
    posterior is the neighbour-aware one; a bundle keeps them, and one saved before they
    existed loads with independent neighbours under its own prior."""
    from safetensors.torch import load_file, save_file

    from phydnn.models import load_phydnn, save_phydnn
    from phydnn.models.context import context_posterior, independent_pairs

    model = tiny_phydnn
    gen = torch.Generator().manual_seed(0)
    pair_counts = torch.randint(0, 50, (2, 8, 8), generator=gen) + 500 * torch.eye(8).long()
    model.set_prior(torch.arange(8) * 10, pair_counts)
    joint = pair_counts.double() + 1
    assert torch.allclose(model.pairs.double(), joint / joint.sum((1, 2), keepdim=True), atol=1e-7)
    y = add_awgn(model.constellation.points[torch.randint(8, (2, 8, 8), generator=gen)], 0.3, gen)
    loglik = -(y.unsqueeze(-1) - model.constellation.points).abs().square() / 0.3
    want = context_posterior(loglik[..., model.pi], model.prior, model.pairs)
    assert torch.allclose(model.posterior(y, 0.3), want, atol=1e-6)
    plain = context_posterior(loglik[..., model.pi], model.prior, independent_pairs(model.prior))
    assert not torch.allclose(want, plain, atol=1e-3)
    card = {"backbone": "resnet20", "in_channels": 1, "num_classes": 10, "split": "stage1",
            "input_shape": [1, 8, 8]}
    save_phydnn(tmp_path / "m", model, card)
    again, saved = load_phydnn(tmp_path / "m")
    assert torch.equal(again.pairs, model.pairs)
    assert saved["neighbours_agree"] == [round(float(j.trace()), 4) for j in model.pairs]
    state = load_file(tmp_path / "m.safetensors")
    del state["pairs"]
    save_file(state, tmp_path / "m.safetensors", metadata={"format": "pt"})
    old, _ = load_phydnn(tmp_path / "m")
    assert torch.allclose(old.pairs, independent_pairs(model.prior))


def test_prune_keeps_the_most_used_and_remaps(tiny_phydnn):
    before = tiny_phydnn.codebook.embeddings.detach().clone()
    usage = torch.tensor([5, 100, 0, 70, 1, 90, 3, 2])
    kept = tiny_phydnn.prune(usage, 4)
    assert kept.tolist() == [0, 1, 3, 5]
    assert torch.equal(tiny_phydnn.codebook.embeddings.detach(), before[kept])
    assert tiny_phydnn.order == 4 and sorted(tiny_phydnn.pi.tolist()) == [0, 1, 2, 3]
    assert tiny_phydnn.constellation.order == 4


def test_fingerprint_changes_with_codebook_and_map(tiny_phydnn):
    fp = tiny_phydnn.fingerprint()
    tiny_phydnn.pi = tiny_phydnn.pi.roll(1)
    assert tiny_phydnn.fingerprint() != fp


def test_unknown_receiver_is_refused(tiny_phydnn):
    with pytest.raises(ConfigError, match="receiver='ml'"):
        tiny_phydnn.simulate(torch.randn(1, 1, 8, 8), 0.1, "ml")


def test_codebook_size_must_be_a_power_of_two():
    with pytest.raises(ConfigError, match="power of two"):
        build_phydnn(build_backbone("resnet20", 1, 10), "stage1", 6, (1, 8, 8))

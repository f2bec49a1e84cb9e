"""VFE and VL-VFE (paper 000) in the core, on scikit-learn digits: the KL of Eq. 6, the
structure of VL-VFE's active set (a prefix, growing with the noise), pruning under a large
beta, the two sides over the payload mapping, and refusals of codec fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phydnn.codecs import load_receiver, load_transmitter
from phydnn.codecs.base import RxPayload
from phydnn.codecs.vfe import (
    K1,
    K2,
    K3,
    GammaMLP,
    VFENet,
    kl_log_uniform,
    quantise_levels,
    soft_levels,
)
from phydnn.data import load_digits
from phydnn.errors import ConfigError
from phydnn.link.simulate import simulate_sides
from phydnn.phy.constellation import psk_points
from phydnn.training.codec_train import CodecTrainConfig, train_codec

DIGITS = dict(codec="vfe", dataset="digits", batch_size=64, val_images=300, val_snr=15.0,
              snr_low=10.0, snr_high=25.0, lr=3e-3, threads=1)


def _train(tmp_path_factory, name: str, epochs: int, beta: float, **arch) -> str:
    out = tmp_path_factory.mktemp(name) / name
    train_codec(CodecTrainConfig(**DIGITS, epochs=epochs, beta=beta, beta_warmup=2,
                                 arch={"dims": 16, **arch}, out=str(out)))
    return str(out)


@pytest.fixture(scope="module")
def vl_model(tmp_path_factory) -> str:
    return _train(tmp_path_factory, "vl", 12, 0.01, variable=1)


def test_kl_is_molchanovs_approximation_and_vanishes_as_z_goes_to_zero():
    """Eq. 6: -KL = k1 S(k2 + k3 log alpha) - 0.5 log(1 + 1/alpha) - k1 (the constant that
    makes KL -> 0 as alpha -> inf), alpha = sigma^2 / z^2; it grows with |z|."""
    nv = torch.tensor([0.01, 0.1])
    z = torch.tensor([[0.9, 0.3], [0.05, 0.7]])
    got = kl_log_uniform(z, nv, torch.ones_like(z))
    alpha = nv.view(-1, 1) / (z ** 2 + 1e-4)
    neg = K1 / (1 + torch.exp(-(K2 + K3 * torch.log(alpha)))) - 0.5 * torch.log1p(1 / alpha) - K1
    assert torch.allclose(got, (-neg).sum(1), atol=1e-5)
    grid = torch.linspace(0, 1, 50).view(1, -1)
    kl = kl_log_uniform(grid, torch.tensor([0.05]), torch.ones_like(grid)) / 1
    per = K1 - K1 * torch.sigmoid(K2 + K3 * torch.log(0.05 / (grid ** 2 + 1e-4))) \
        + 0.5 * torch.nn.functional.softplus(-torch.log(0.05 / (grid ** 2 + 1e-4)))
    assert float(per[0, 0]) < 1e-2 and bool((per[0, 1:] > per[0, :-1]).all())
    assert float(kl) == pytest.approx(float(per.sum()), rel=1e-5)
    masked = kl_log_uniform(z, nv, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert float(masked[1]) == 0.0 and float(masked[0]) < float(got[0])


@pytest.mark.parametrize("seed", range(5))
def test_gamma_of_sigma_gives_a_prefix_that_grows_with_the_noise(seed):
    """Eq. 12 with App. B's |W|-tanh MLP, for any weights: gamma_i(sigma) is non-increasing in
    i (so gamma > gamma_0 is a prefix) and non-decreasing in sigma."""
    torch.manual_seed(seed)
    g = GammaMLP(32)
    for p in g.parameters():
        p.data.normal_(0, 1.0)
    sigma = torch.linspace(0.01, 1.0, 200)
    gamma = g(sigma).detach()
    assert bool((gamma[:, :-1] >= gamma[:, 1:] - 1e-6).all())
    assert bool((gamma[1:] >= gamma[:-1] - 1e-6).all())
    for gamma0 in (0.05, 0.5, 2.0):
        mask = gamma > gamma0
        k = mask.sum(1)
        assert bool((mask == (torch.arange(32) < k.view(-1, 1))).all())   # a prefix
        assert bool((k[1:] >= k[:-1]).all())


def test_trained_vl_vfe_sends_a_prefix_whose_length_grows_as_the_channel_worsens(vl_model):
    """The trained network through its sides: the transmitter told Es/N0 sends k values (the
    codec field), k non-decreasing as Es/N0 falls, strictly more at 10 dB than at 25 dB on
    this model, and the receiver places them as the first k dimensions."""
    tx, rx = load_transmitter(vl_model), load_receiver(vl_model)
    images = load_digits("test").images[:50].numpy()
    ks = []
    for snr in (30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 0.0):
        tx.adapt(snr)
        sent = tx.encode(images)
        assert sent.codec_field == sent.values.shape[1] == tx.net.k(snr)
        assert torch.equal(tx.net.active(snr), torch.arange(sent.codec_field))
        ks.append(sent.codec_field)
    assert ks == sorted(ks) and ks[-3] > ks[1], ks
    tx.adapt(20.0)
    sent = tx.encode(images)
    z = rx.net.place(torch.from_numpy(sent.values), sent.codec_field,
                     torch.zeros(sent.values.shape, dtype=torch.bool))
    assert torch.equal(z[:, :sent.codec_field], torch.from_numpy(sent.values))
    assert not z[:, sent.codec_field:].any()


def test_a_large_beta_prunes_and_no_beta_keeps_every_dimension(tmp_path_factory):
    """Alg. 1 on digits: with beta = 0 no dimension falls under gamma_0; with a large beta
    most do (an epoch with at most 8 is chosen: max_dims), and the card records the active
    set the receiver places values by."""
    keep = load_transmitter(_train(tmp_path_factory, "b0", 6, 0.0))
    pruned = load_transmitter(_train(tmp_path_factory, "big", 10, 0.3, max_dims=8))
    assert keep.net.values == 16
    assert pruned.card["validation"]["admissible"]
    assert 0 < pruned.net.values <= 8, pruned.card["active_dims"]
    assert pruned.card["active_dims"] == [int(i) for i in pruned.net.active(10.0)]
    assert pruned.card["values_per_image"] == pruned.net.values


def test_the_receiver_refuses_codec_fields_it_cannot_place(vl_model, tmp_path_factory):
    rx = load_receiver(vl_model)
    for bad in (0, 17, 0xFFFF):
        with pytest.raises(ValueError, match="active dimensions; this VL-VFE sends 1..16"):
            rx.check_field(bad)
    rx.check_field(16)
    static = load_receiver(_train(tmp_path_factory, "st", 3, 0.0))
    with pytest.raises(ValueError, match="this VFE sends 16"):
        static.check_field(15)
    payload = RxPayload("analog", np.zeros((2, 15), np.float32), np.ones((2, 15), np.float32),
                        np.zeros((2, 15), bool), 15)
    with pytest.raises(ValueError, match="this VFE sends 16"):
        static.decode(payload)


def test_the_simulated_link_matches_the_network_and_erasures_read_as_zero(vl_model):
    """simulate_sides (the payload mapping, AWGN at the data symbols, the receiver's sigma
    from the noise variance it is handed) agrees with the network's own torch link at 60 dB;
    an erased value reads as 0 whatever the link left in it."""
    from phydnn.data.transforms import normalize

    tx, rx = load_transmitter(vl_model), load_receiver(vl_model)
    test = load_digits("test")
    tx.adapt(60.0)
    link = simulate_sides(tx, rx, test, 60.0)
    with torch.no_grad():
        logits = tx.net.simulate(normalize(test.images, test.mean, test.std), 1e-6)
    assert link == pytest.approx(float((logits.argmax(1) == test.labels).float().mean()),
                                 abs=0.01)
    sent = tx.encode(test.images[:4].numpy())
    k = sent.codec_field
    erased = np.zeros((4, k), bool)
    erased[:, 0] = True
    v = sent.values.copy()
    v[:, 0] = 5.0                       # what an erased value holds must not matter
    a = rx.decode(RxPayload("analog", v, np.full((4, k), 1e-3, np.float32), erased, k))
    v[:, 0] = 0.0
    b = rx.decode(RxPayload("analog", v, np.full((4, k), 1e-3, np.float32), erased, k))
    assert np.allclose(a.probabilities, b.probabilities)


def test_digital_levels_are_gray_neighbours_on_psk_and_read_back_by_their_posterior():
    """b bits per dimension: level j is PSK point j (neighbouring levels on neighbouring
    points); with little noise the posterior mean is the level, with much it shrinks to 0."""
    for bits in (2, 3):
        m = 1 << bits
        levels = torch.linspace(-1, 1, m)
        assert torch.equal(quantise_levels(levels, bits), torch.arange(m))
        assert torch.equal(quantise_levels(torch.tensor([-2.0, 2.0]), bits),
                           torch.tensor([0, m - 1]))
        pts = torch.from_numpy(psk_points(m).astype(np.complex64))
        gray = np.arange(m) ^ (np.arange(m) >> 1)
        assert all(bin(int(gray[j]) ^ int(gray[(j + 1) % m])).count("1") == 1
                   for j in range(m))
        back = soft_levels(pts, torch.full((m,), 1e-4), bits)
        assert torch.allclose(back, levels, atol=1e-4)
        assert float(soft_levels(pts, torch.full((m,), 1e3), bits).abs().max()) < 1e-2


def test_bad_architecture_settings_are_refused():
    with pytest.raises(ConfigError, match="bits=4 is not allowed; 0 .analog., 2 .QPSK. or 3"):
        VFENet(bits=4)
    with pytest.raises(ConfigError, match="arch keys \\['depth'\\] are not known to vfe"):
        CodecTrainConfig(codec="vfe", arch={"depth": 3}).check()
    from phydnn.codecs.vfe import VFECodec
    with pytest.raises(ConfigError, match="arch prior=2 is not allowed"):
        VFECodec.build({"prior": 2}, 1, 10, (1, 8, 8))


def test_feedback_curves_send_what_each_kind_of_channel_knowledge_implies(vl_model):
    """genie: k(Es/N0); fixed: k(10 dB) at every Es/N0; pilots (m = 8 per batch): between,
    and with 1000 pilots the genie's; the table prints each."""
    from phydnn.bench.adaptive import adaptive_curves, adaptive_tables, feedback_curves

    net = load_transmitter(vl_model).net
    fb = feedback_curves(vl_model, [25.0], images=200, pilots=8, draws=1)
    assert fb["genie"]["25.0"]["values"] == net.k(25.0)
    assert fb["fixed"]["25.0"]["values"] == net.k(10.0)
    assert net.k(25.0) - 1 <= fb["pilots"]["25.0"]["values"] <= net.k(10.0)
    exact = feedback_curves(vl_model, [25.0], images=200, pilots=1000, draws=1)
    assert exact["pilots"]["25.0"]["values"] == pytest.approx(net.k(25.0), abs=0.5)
    curves = adaptive_curves({"vl": vl_model}, [25.0], images=200, draws=2)
    row = curves["vl"]["curve"]["25.0"]
    assert row["values"] == net.k(25.0) and row["real_uses"] == 2 * -(-net.k(25.0) // 2)
    assert row["min"] <= row["accuracy"] <= row["max"]
    text = "\n".join(adaptive_tables(curves, fb, {"ref": 0.9}))
    assert "| pilots |" in text and "ref (no channel): 90.00 %" in text

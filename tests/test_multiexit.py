"""The multi-exit encoder of paper 002 in the core: the budget's thresholds (Alg. 2, Eq.
17-18, over the survivors), real early exit (later blocks see only the images still in the
batch), the exit map (no image routed by a header or map that fails its check), both sides
over the payload mapping on scikit-learn digits, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phydnn.codecs import load_receiver, load_transmitter
from phydnn.codecs.base import RxPayload
from phydnn.codecs.budget import assign_exits, exit_fractions, find_thresholds, plan_budget
from phydnn.codecs.exitmap import (
    MIXED,
    REPETITIONS,
    decode_exit_map,
    encode_exit_map,
    exit_map_bits,
    exit_map_values,
)
from phydnn.data import load_digits
from phydnn.errors import ConfigError
from phydnn.link.header import HeaderError, PhyHeader, decode_header, encode_header
from phydnn.link.payload import map_values, unmap_symbols
from phydnn.link.simulate import simulate_sides
from phydnn.training.codec_train import CodecTrainConfig, train_codec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("multiexit") / "me"
    train_codec(CodecTrainConfig(codec="multiexit", dataset="digits", epochs=8, batch_size=64,
                                 val_images=400, val_snr=12.0, snr_low=0.0, snr_high=18.0,
                                 lr=3e-3, threads=1, out=str(out),
                                 arch={"first_layers": 2, "layers": 1, "last_layers": 1}))
    return str(out)


@pytest.fixture(scope="module")
def psk_model(model, tmp_path_factory) -> str:
    """The digital mode, started from the analog model (``--init``): 16-PSK codebooks."""
    out = tmp_path_factory.mktemp("multiexit_psk") / "me16"
    train_codec(CodecTrainConfig(codec="multiexit", dataset="digits", epochs=2, batch_size=64,
                                 val_images=400, val_snr=12.0, snr_low=0.0, snr_high=18.0,
                                 lr=1e-3, threads=1, out=str(out), init=model,
                                 arch={"first_layers": 2, "layers": 1, "last_layers": 1,
                                       "psk_bits": 4}))
    return str(out)


def test_exit_fractions_follow_eq_18_normalised_over_all_exits():
    p = exit_fractions(2.0, 5)
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(p[1:] / p[:-1], 2.0)
    assert exit_fractions(1e-9, 5)[0] == pytest.approx(1.0)
    assert exit_fractions(1e9, 5)[-1] == pytest.approx(1.0)


def test_thresholds_are_quantiles_over_the_samples_that_have_not_exited():
    """Two exits' confidences built so that the samples most confident at exit 2 already
    left at exit 1: a quantile over all samples would take theirs, the survivors' is lower."""
    n = 100
    conf = np.zeros((n, 3))
    conf[:, 0] = np.linspace(1.0, 0.0, n)               # 0..49 leave at exit 1
    conf[:, 1] = np.where(np.arange(n) < 50, 0.99, np.linspace(0.9, 0.1, n))
    theta = find_thresholds(conf, np.array([0.5, 0.25, 0.25]))
    exits = assign_exits(conf, theta)
    assert np.bincount(exits, minlength=3).tolist() == [50, 25, 25]
    assert theta[1] < 0.99 and theta[2] == -np.inf


def test_a_budget_is_met_on_the_images_it_was_planned_on_and_refused_below_exit_1():
    rng = np.random.default_rng(0)
    conf = rng.uniform(size=(5000, 5)) ** 0.3
    costs = np.array([6e6, 12e6, 18e6, 24e6, 30e6])
    for budget in (7e6, 12e6, 15e6, 22e6, 29e6):
        plan = plan_budget(conf, costs, budget)
        assert budget * 0.95 <= plan.val_macs <= budget
        assert plan.val_fractions.sum() == pytest.approx(1.0)
    assert plan_budget(conf, costs, 40e6).val_macs == costs[-1]
    tight = plan_budget(conf, costs, 6.01e6)          # no r fits: all leave at exit 1
    assert tight.val_macs == costs[0] and tight.val_fractions[0] == 1.0
    with pytest.raises(ConfigError, match="budget"):
        plan_budget(conf, costs, 5e6)


def test_exit_map_round_trip_at_0_db_and_one_exit_in_the_codec_field():
    rng = np.random.default_rng(1)
    exits = rng.integers(0, 5, 64)
    field, values = encode_exit_map(exits, 5)
    assert field & MIXED and len(values) == exit_map_values(64, 5)
    assert exit_map_bits(64, 5) == 149 and len(values) == REPETITIONS * 2 * (149 + 6)
    ok = 0
    for _ in range(50):      # 0 dB Es/N0: noise variance 1 per real value
        y = values + rng.standard_normal(len(values))
        got = decode_exit_map(field, y, np.ones(len(y)), np.zeros(len(y), bool), 64, 5)
        ok += got is not None and bool((got == exits).all())
    assert ok >= 49
    single, none = encode_exit_map(np.full(10, 3), 5)
    assert single == 4 and len(none) == 0
    assert (decode_exit_map(single, none, none, none.astype(bool), 10, 5) == 3).all()


def test_no_image_is_routed_by_a_corrupted_header_or_map():
    """Fuzz: 3000 headers of mixed batches with random coded-bit flips (1 to 500 of 1332
    symbols) decode either to the header sent or to a refusal; 3000 maps with random values
    decode either to the exits sent or to None, never to other exits."""
    rng = np.random.default_rng(2)
    exits = rng.integers(0, 5, 64)
    field, values = encode_exit_map(exits, 5)
    header = PhyHeader("0123abcd", 7, 0, 1, 600, 64, 0, 24, 6, "analog", 16, field)
    sent = encode_header(header)
    refused = 0
    for _ in range(3000):
        sym = sent.copy()
        flip = rng.choice(len(sym), int(rng.integers(1, 500)), replace=False)
        sym[flip] *= -1
        try:
            got, _ = decode_header(sym)
        except HeaderError:
            refused += 1
            continue
        assert got == header
    assert refused > 100
    wrong = 0
    for _ in range(3000):
        y = values * rng.choice([1.0, -1.0], len(values), p=[0.7, 0.3])
        got = decode_exit_map(field, y, np.ones(len(y)), np.zeros(len(y), bool), 64, 5)
        wrong += got is not None and not bool((got == exits).all())
    assert wrong == 0
    with pytest.raises(ValueError, match="exits 1..5"):
        decode_exit_map(6, values, values, values.astype(bool), 64, 5)


def test_early_exit_runs_later_blocks_on_the_survivors_only(model):
    """Real early exit: forward hooks count the images each block sees; block k sees the
    images that did not leave before it, and each image's values are those of the full
    network's exit it left at."""
    tx = load_transmitter(model)
    net = tx.net
    x = (load_digits("test").images[:200].float() - 0.5) / 0.5
    with torch.no_grad():           # thresholds between each exit's least and most confident
        conf = net.encoder.confidences(x).numpy()    # image: some leave at exit 1, not all
    theta = (conf.min(0) + conf.max(0)) / 2
    theta[-1] = -np.inf
    seen = [0] * net.k_exits
    hooks = [b.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, seen[k] +
                                                                         len(i[0][0])))
             for k, b in enumerate(net.encoder.backbone.blocks)]
    values, exits = net.encoder.early_exit(x, theta)
    for h in hooks:
        h.remove()
    counts = np.bincount(exits, minlength=net.k_exits)
    assert seen == [200 - int(counts[:k].sum()) for k in range(net.k_exits)]
    assert 0 < counts[0] < 200
    with torch.no_grad():
        full = net.encoder(x)
    assert torch.allclose(values, full[torch.arange(200), torch.from_numpy(exits)], atol=1e-5)


def test_both_sides_over_the_payload_at_each_budget(model):
    """Over the analog mapping at 12 dB on the digits test split: more budget, more MACs
    spent (at most the budget, within 5 % where the exits allow); the full budget's accuracy
    is the card's; the exit map costs what its formula says."""
    tx, rx = load_transmitter(model), load_receiver(model)
    test = load_digits("test")
    costs = tx.costs
    spent, acc = [], []
    for budget in np.linspace(costs[0], costs[-1], 4):
        tx.set_budget(float(budget))
        tx.reset_counts()
        acc.append(simulate_sides(tx, rx, test, 12.0, batch_size=64, seed=0))
        spent.append(tx.realised_macs)
        assert spent[-1] <= budget * 1.03
    assert spent == sorted(spent) and spent[-1] == pytest.approx(costs[-1])
    assert acc[-1] > 0.6
    tx.set_budget(float(costs[1]))
    sent = tx.encode(test.images[:64].numpy())
    if sent.codec_field & MIXED:
        extra = sent.values.shape[1] - 16
        assert extra == -(-exit_map_values(64, tx.net.k_exits) // 64)
        assert rx.values_per_image(sent.codec_field, 64) == sent.values.shape[1]


def test_a_batch_with_a_failed_map_is_flagged_and_a_bad_field_refused(model):
    tx, rx = load_transmitter(model), load_receiver(model)
    tx.set_budget(float(tx.costs[1]))
    images = load_digits("test").images[:64].numpy()
    sent = tx.encode(images)
    assert sent.codec_field & MIXED
    sym = map_values(tx.spec, sent.values)
    payload = unmap_symbols(rx.spec, sym, np.full(sym.shape, 1e-3, np.float32),
                            sent.values.shape[1], sent.codec_field ^ 1)    # wrong check bits
    out = rx.decode(payload)
    assert out.extra["exit_map_failed"] and np.allclose(out.probabilities, 0.1)
    good = rx.decode(RxPayload("analog", sent.values, np.full(sent.values.shape, 1e-3),
                               np.zeros(sent.values.shape, bool), sent.codec_field))
    assert not good.extra["exit_map_failed"]
    with pytest.raises(ValueError, match="exits"):
        rx.check_field(0)
    with pytest.raises(ConfigError, match="budget"):
        tx.set_budget(float(tx.costs[0]) / 2)


def test_the_psk_mode_sends_codeword_indices_and_its_map_on_antipodal_points(psk_model):
    """16-PSK: 8 point indices per image (as many symbols as the analog 16 values), the map
    on points 0 and 8; at 18 dB the budgets' accuracies are those of a working classifier
    and a mixed batch's exits come through."""
    tx, rx = load_transmitter(psk_model), load_receiver(psk_model)
    assert tx.spec.kind == "psk" and tx.spec.bits_per_symbol == 4
    test = load_digits("test")
    tx.set_budget(float(tx.costs[1]))
    sent = tx.encode(test.images[:64].numpy())
    assert sent.values.dtype == np.uint8 and sent.codec_field & MIXED
    assert set(np.unique(sent.values[:, 8:])) <= {0, 8}
    sym = map_values(tx.spec, sent.values)
    out = rx.decode(unmap_symbols(rx.spec, sym, np.full(sym.shape, 0.05, np.float32),
                                  sent.values.shape[1], sent.codec_field))
    assert not out.extra["exit_map_failed"]
    assert simulate_sides(tx, rx, test, 18.0, batch_size=64) > 0.6
    with pytest.raises(ConfigError, match="init"):
        train_codec(CodecTrainConfig(codec="deepjscc", dataset="digits", epochs=1,
                                     init=psk_model, val_images=300, out=psk_model + "_x"))


def test_the_static_encoder_starts_from_a_backbone_and_refuses_one_that_does_not_fit(tmp_path):
    """paper 002's static encoder: --init copies the ResNet's units (the encoder then
    computes what the backbone computes up to its pooling), a bundle of another input shape
    is refused, and one epoch on digits gives both sides over the analog payload."""
    from phydnn.codecs.registry import get_codec
    from phydnn.errors import CheckpointError
    from phydnn.models.bundle import load_backbone

    codec = get_codec("toc")
    net = codec.build({}, 1, 10, (1, 28, 28))
    codec.initialise(net, "models/fmnist_resnet20")
    resnet, _ = load_backbone("models/fmnist_resnet20")
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        want = torch.nn.Sequential(*list(resnet.units.values())[:-1])(x).mean(dim=(2, 3))
        assert torch.allclose(net.encoder[1](net.encoder[0].eval()(x)), want, atol=1e-5)
    rgb = codec.build({}, 3, 10, (3, 32, 32))
    with pytest.raises(CheckpointError, match="does not fit"):
        codec.initialise(rgb, "models/fmnist_resnet20")
    out = tmp_path / "toc"
    train_codec(CodecTrainConfig(codec="toc", dataset="digits", epochs=1, batch_size=64,
                                 val_images=300, threads=1, out=str(out)))
    tx, rx = load_transmitter(str(out)), load_receiver(str(out))
    assert tx.spec.kind == "analog" and tx.encode(load_digits("test").images[:3].numpy()
                                                  ).values.shape == (3, 16)
    assert simulate_sides(tx, rx, load_digits("test"), 12.0) > 0.25      # chance: 0.1


def test_distillation_mixes_the_teachers_softened_probabilities_and_refuses_a_bad_teacher(
        tmp_path):
    """TaskTarget: labels alone are the cross-entropy; a teacher equal to the student's own
    softened output leaves (1 - a) CE (the KL term is 0), any other adds to it. A weight
    without a teacher, a weight of 1, and a teacher of another dataset are refused."""
    from phydnn.codecs.e2e import TaskTarget
    from phydnn.training.codec_train import _Run

    gen = torch.Generator().manual_seed(0)
    logits, y = torch.randn(16, 10, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    ce = F.cross_entropy(logits, y)
    assert torch.isclose(TaskTarget(y).loss(logits), ce)
    own = F.softmax(logits / 4, 1)
    assert torch.isclose(TaskTarget(y, own, 0.7, 4.0).loss(logits), 0.3 * ce, atol=1e-6)
    assert TaskTarget(y, torch.full((16, 10), 0.1), 0.7, 4.0).loss(logits) > 0.3 * ce + 0.01
    with pytest.raises(ConfigError, match="distillation needs both"):
        CodecTrainConfig(codec="multiexit", distill=0.5).check()
    with pytest.raises(ConfigError, match=r"distill=1.0 is not allowed"):
        CodecTrainConfig(codec="multiexit", distill=1.0, teacher="x").check()
    with pytest.raises(ConfigError, match="was trained on 'fashion-mnist', not on 'digits'"):
        _Run(CodecTrainConfig(codec="multiexit", dataset="digits", val_images=100,
                              teacher=str(ROOT / "models" / "fmnist_resnet20"), distill=0.5,
                              out=str(tmp_path / "me")))

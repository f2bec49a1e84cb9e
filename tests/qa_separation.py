"""qa for the separation baseline (quantise a BottleFit bottleneck, CRC + gr-fec per
codeword, QPSK): the modes fit the channel-use budget by formula, codewords survive the
cyclic rate matching, a failed codeword erases exactly its features, bad codec fields are
refused, the transmitter follows its rate table, and the shipped bundles do what their cards
say through the torch link and the GNU Radio loopback."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {784: ROOT / "models" / "fmnist_separation_s784",
           196: ROOT / "models" / "fmnist_separation_s196"}


def coding(features: int, budget: int, codes: tuple[str, ...]):
    from phydnn.codecs.separation import _Coding, fit_modes

    modes = fit_modes(features, budget, codes)
    return _Coding({"features": features, "budget_symbols": budget,
                    "modes": [asdict(m) for m in modes]}), modes


def test_modes_are_every_b_that_fits_the_budget():
    from phydnn.codecs.separation import _mode

    _, modes = coding(98, 196, ("cc12", "cc34", "ldpc300", "ldpc500", "uncoded"))
    bits = {}
    for m in modes:
        bits.setdefault(m.code, []).append(m.bits)
    # 392 coded bits: cc12 frame 98 b + 16, coded 2 (frame + 6); uncoded 98 b + 16
    assert bits == {"cc12": [1], "cc34": [1, 2], "ldpc300": [1], "uncoded": [1, 2, 3]}
    cc12 = next(m for m in modes if m.code == "cc12")
    assert (cc12.frame, cc12.coded) == (98 + 16, 2 * (98 + 16 + 6))
    assert next(m for m in modes if m.code == "uncoded" and m.bits == 3).coded == 98 * 3 + 16
    for m in modes:
        assert m.codewords * m.coded <= 392
    for code, found in bits.items():          # the next b would not fit
        bigger = _mode(code, max(found) + 1, 98)
        assert bigger.codewords * bigger.coded > 392, code


def test_budget_too_small_is_refused():
    from phydnn.codecs.separation import fit_modes
    from phydnn.errors import ConfigError

    with pytest.raises(ConfigError, match="budget_symbols=40"):
        fit_modes(98, 40, ("cc12", "ldpc300"))


@pytest.mark.parametrize("code", ["cc12", "cc23", "ldpc300", "uncoded"])
def test_features_survive_rate_matching_noise_free(code):
    c, modes = coding(98, 784, (code,))
    rng = np.random.default_rng(0)
    q = rng.integers(0, 1 << modes[0].bits, (6, 98))
    sent = c.encode(q, 0)
    assert sent.shape == (6, 2 * 784) and set(np.unique(sent)) <= {0, 1}
    llr = np.where(sent == 0, 20.0, -20.0).astype(np.float32)
    back, erased = c.decode(llr, 0)
    assert np.array_equal(back, q) and not erased.any()


def test_repeats_are_combined_and_a_failed_codeword_erases_its_features():
    c, modes = coding(98, 784, ("ldpc300",))
    field = [m.bits for m in modes].index(6)
    mode = modes[field]                              # b = 6: 5 codewords of 136 bits
    assert (mode.bits, mode.codewords) == (6, 5)
    rng = np.random.default_rng(1)
    q = rng.integers(0, 64, (2, 98))
    sent = c.encode(q, field)
    llr = np.where(sent == 0, 8.0, -8.0).astype(np.float32)
    total = mode.codewords * mode.coded              # 1500; bits 0..67 are sent twice
    llr[0, :68] = 0.0                                # first copies lost: the repeats carry
    back, erased = c.decode(llr, field)
    assert np.array_equal(back[0], q[0]) and not erased[0].any()
    llr[1, 300:600] = -llr[1, 300:600]               # codeword 1 of image 1 inverted
    back, erased = c.decode(llr, field)
    # codeword 1 carries feature bits 136..271: features 22 (bits 132-137) .. 45 (270-275)
    assert np.array_equal(np.flatnonzero(erased[1]), np.arange(22, 46))
    assert np.array_equal(back[1][~erased[1]], q[1][~erased[1]])
    assert total == 1500


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED[196].with_suffix(".json").exists():
        pytest.fail("models/fmnist_separation_s196 is missing: make it with "
                    "'phydnn train-separation'")
    from phydnn.link import RxTail, TxHead
    return TxHead(SHIPPED[196]), RxTail(SHIPPED[196])


def test_bad_codec_field_is_refused_naming_the_modes(shipped):
    from phydnn.link.header import HeaderError, PhyHeader

    _, rx = shipped
    n = len(rx.side.card["modes"])
    header = PhyHeader("00000000", 0, 0, 1, 1, 1, 2, 392, codec_id=4, kind="bits",
                       codec_field=n)
    with pytest.raises(HeaderError, match=f"names no mode.*0..{n - 1}") as err:
        rx.check(header)
    assert err.value.reason == "codec_field"


def test_transmitter_follows_its_rate_table(shipped):
    tx, _ = shipped
    table = sorted(tx.side.card["rate_table"], key=lambda r: r["snr_db"])
    for row in table:
        tx.side.adapt(row["snr_db"] + 0.5)
        assert tx.side.mode == row["mode"]
    tx.side.adapt(table[0]["snr_db"] - 10)
    assert tx.side.mode == table[0]["mode"]


def test_every_image_gets_a_result_when_segments_are_lost(shipped, digits_test=None):
    from phydnn.codecs.base import RxPayload
    from phydnn.data import load_dataset

    tx, rx = shipped
    test = load_dataset("fashion-mnist", "test").subset(8)
    sent = tx.encode_payload(test.images.numpy())
    llr = np.where(sent.values == 0, 9.0, -9.0).astype(np.float32)
    erased = np.zeros(llr.shape, bool)
    erased[:4] = True                                 # the first half of the batch lost
    llr[erased] = 0.0
    out = rx.side.decode(RxPayload("bits", llr, np.ones_like(llr), erased, sent.codec_field))
    assert out.probabilities.shape == (8, 10)
    assert np.allclose(out.probabilities.sum(1), 1.0, atol=1e-4)
    assert (out.extra["features_erased"][:4] == 1.0).all()
    assert (out.extra["features_erased"][4:] == 0.0).all()


@pytest.mark.parametrize("budget", [784, 196])
def test_shipped_bundle_is_a_fair_baseline(budget):
    """At 20 dB within 0.5 points of its own noise-free accuracy (the card's test figures)."""
    import json

    card = json.loads(SHIPPED[budget].with_suffix(".json").read_text())
    at20 = card["accuracy_vs_snr"]["20.0"]
    clean = card["noise_free_accuracy"][at20["mode"]]
    assert abs(at20["soft"] - clean) <= 0.005, (at20, clean)


def test_loopback_matches_the_torch_link():
    from phydnn.bench.latency import loopback_accuracy
    from phydnn.data import load_dataset
    from phydnn.link.simulate import simulate_link

    model = str(SHIPPED[196])
    loop = loopback_accuracy(model, [8.0], 500, ("soft",))["8.0"]
    torch_acc = simulate_link(model, load_dataset("fashion-mnist", "test").subset(500), 8.0)
    assert loop["delivery"] == 100.0
    assert abs(loop["soft"] - torch_acc) <= 0.01, (loop, torch_acc)


def test_16_psk_loopback_at_0_db_is_within_the_torch_links_noise_draws():
    """PhyDNN's 16-PSK head at 0 dB: the payload rides the link's pilots, so the loopback
    lies within the torch link's noise draws on the same images, with a point to spare
    (decision-directed tracking lost 12 points here)."""
    from phydnn.bench.latency import loopback_accuracy
    from phydnn.bench.separation import beyond_draws
    from phydnn.data import load_dataset
    from phydnn.link.simulate import simulate_link

    model = str(ROOT / "models" / "fmnist_resnet20_phydnn_stage2kdctx_m16")
    test = load_dataset("fashion-mnist", "test").subset(1000)
    loop = loopback_accuracy(model, [0.0], 1000, ("soft",))["0.0"]
    draws = [simulate_link(model, test, 0.0, seed=seed) for seed in range(3)]
    row = {"loopback": {"0.0": loop["soft"]}, "torch_same_images_draws": {"0.0": draws}}
    assert loop["delivery"] == 100.0
    assert beyond_draws(row, margin=0.015) == {}, (loop, draws)


def test_beyond_draws_names_the_points_outside_the_torch_draws():
    from phydnn.bench.separation import beyond_draws

    row = {"loopback": {"0.0": 0.55, "2.0": 0.91, "4.0": 0.95},
           "torch_same_images_draws": {"0.0": [0.59, 0.61], "2.0": [0.90, 0.92],
                                       "4.0": [0.92, 0.93]}}
    assert beyond_draws(row) == {"0.0": -0.03, "4.0": 0.01}


def test_eval_compare_draws_the_codecs_and_their_crossing(tmp_path):
    import json

    from phydnn.cli.__main__ import main

    phydnn196 = str(ROOT / "models" / "fmnist_resnet20_phydnn_stage2kdctx_m16")
    rc = main(["eval", "--model", str(SHIPPED[196]), "--compare", phydnn196, "--images", "300",
               "--snr", "0", "12", "--draws", "2", "--out-dir", str(tmp_path)])
    assert rc == 0
    res = json.loads((tmp_path / "fmnist_separation_s196_compare.json").read_text())
    entry = res["budgets"]["196"]
    assert set(entry["codecs"]) == {"separation", "PhyDNN"}
    assert entry["crossings"]["PhyDNN"]["torch"]["kind"] in ("cross", "below", "above")
    assert (tmp_path / "fmnist_separation_s196_compare.png").stat().st_size > 10_000


def test_eval_refuses_a_bundle_of_another_budget_in_one_group(tmp_path):
    from phydnn.bench.separation import joint_vs_separate
    from phydnn.errors import ConfigError

    with pytest.raises(ConfigError, match="symbols per image, not the budget's 196"):
        joint_vs_separate({196: {"separation": str(SHIPPED[784])}}, [12.0], 10, 0, [])


def test_modes_without_crc_fit_a_budget_of_a_few_dozen_bits():
    """15 QPSK symbols (30 coded bits, paper 000's 31 real channel uses) for 8 features: with
    CRC-16 only b = 1 uncoded fits; without, every code whose codeword fits, by formula, and
    a codeword is never erased."""
    from phydnn.codecs.separation import _Coding, fit_modes
    from phydnn.errors import ConfigError

    with_crc = fit_modes(8, 15, ("cc12", "cc34", "uncoded"))
    assert [(m.code, m.bits) for m in with_crc] == [("uncoded", 1)]
    modes = fit_modes(8, 15, ("cc12", "cc34", "uncoded"), crc=0)
    assert [(m.code, m.bits) for m in modes] == [("cc12", 1), ("cc34", 1), ("cc34", 2),
                                                 ("uncoded", 1), ("uncoded", 2),
                                                 ("uncoded", 3)]
    assert next(m for m in modes if m.code == "cc12").coded == 2 * (8 + 6)
    with pytest.raises(ConfigError, match="crc_bits=8 is not allowed"):
        fit_modes(8, 15, ("cc12",), crc=8)
    c = _Coding({"features": 8, "budget_symbols": 15, "modes": [asdict(m) for m in modes]})
    q = np.random.default_rng(3).integers(0, 8, (5, 8))
    field = [(m.code, m.bits) for m in modes].index(("cc34", 2))
    sent = c.encode(q % 4, field)
    llr = np.where(sent == 0, 6.0, -6.0).astype(np.float32)
    llr[:, :4] = -llr[:, :4]                 # errors the decoder cannot see: nothing erased
    back, erased = c.decode(llr, field)
    assert not erased.any() and back.shape == (5, 8)


def test_a_vfe_network_is_quantised_and_coded_as_paper_000s_baseline(tmp_path):
    """train-separation on a static VFE-family network (beta = 0, 6 values): its values are
    the features, the bundle loads as a codec, every image gets a result, and the noise-free
    accuracy of the finest mode is near the float network's."""
    from phydnn.codecs import load_receiver, load_transmitter
    from phydnn.data import load_digits
    from phydnn.link.simulate import simulate_sides
    from phydnn.training.codec_train import CodecTrainConfig, train_codec
    from phydnn.training.separation import SeparationConfig, train_separation

    net = tmp_path / "q6"
    train_codec(CodecTrainConfig(codec="vfe", dataset="digits", epochs=8, batch_size=64,
                                 lr=3e-3, beta=0.0, val_images=300, val_snr=60.0,
                                 snr_low=60.0, snr_high=60.0, threads=1,
                                 arch={"dims": 6, "gamma0_milli": 0}, out=str(net)))
    cards = train_separation(SeparationConfig(
        bottleneck=str(net), budgets=(12,), codes=("cc12", "uncoded"), crc_bits=0, epochs=1,
        batch_size=64, val_images=300, rate_images=300, rate_snrs=(5.0, 25.0), threads=1,
        out=str(tmp_path / "quant")))
    card = cards[0]
    assert card["bottleneck"]["codec"] == "vfe" and card["features"] == 6
    assert all(m["crc"] == 0 for m in card["modes"])
    tx, rx = load_transmitter(tmp_path / "quant_s12"), load_receiver(tmp_path / "quant_s12")
    test = load_digits("test")
    float_acc = simulate_sides(load_transmitter(net), load_receiver(net), test, float("inf"))
    finest = max(range(len(card["modes"])), key=lambda i: card["modes"][i]["bits"])
    tx.mode = finest
    clean = simulate_sides(tx, rx, test, float("inf"))
    assert clean >= float_acc - 0.1, (clean, float_acc)
    tx.adapt(5.0)
    assert 0.1 < simulate_sides(tx, rx, test, 5.0) <= 1.0

"""The codec interface in the core (no GNU Radio): the registry, TX and RX bundles, header
v2, and the payload kinds' mapping against theory (BER of Gray BPSK / QPSK, calibrated LLRs,
the analog values' error variance)."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import codec_toy
import numpy as np
import pytest

from phydnn.codecs import (
    PayloadSpec,
    codec_names,
    export_bundles,
    load_receiver,
    load_transmitter,
    register_codec,
)
from phydnn.codecs.registry import get_codec
from phydnn.errors import CheckpointError, ConfigError
from phydnn.link.header import (
    MAGIC,
    HeaderError,
    PhyHeader,
    decode_header,
    encode_header,
    encode_header_bytes,
    encode_legacy_header,
    header_bytes,
)
from phydnn.link.payload import insert_pilots, map_values, pilot_count, remove_pilots, unmap_symbols

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4"


def _q(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def _awgn(sym: np.ndarray, snr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    nv = 10 ** (-snr_db / 10)
    noise = rng.standard_normal(sym.shape) + 1j * rng.standard_normal(sym.shape)
    return (sym + noise * np.sqrt(nv / 2)).astype(np.complex64), nv


def test_registry_knows_the_built_in_codecs_and_refuses_unknown_ones(tmp_path):
    assert {"phydnn", "dtjscc", "deepjscc", "toy-pool"} <= set(codec_names())
    with pytest.raises(CheckpointError, match="codec 'nope' is not known; known codecs: "):
        get_codec("nope")
    with pytest.raises(ConfigError, match="codec id 1 of 'other' is taken by 'phydnn'"):
        register_codec("other", 1)(type("Other", (), {}))
    path = codec_toy.make_bundle(tmp_path / "toy", images=500)
    card = path.with_suffix(".json")
    card.write_text(card.read_text().replace('"toy-pool"', '"nope"'))
    with pytest.raises(CheckpointError, match="codec 'nope' is not known"):
        load_receiver(tmp_path / "toy")


def test_export_cuts_tx_and_rx_bundles_with_one_fingerprint(tmp_path):
    from safetensors.torch import load_file

    from phydnn.data import load_dataset
    from phydnn.link import ReceivedBatch, RxTail, TxHead

    tx_stem, rx_stem = export_bundles(MODEL, tmp_path / "m")
    tx_keys = load_file(f"{tx_stem}.safetensors").keys()
    rx_keys = load_file(f"{rx_stem}.safetensors").keys()
    assert not any(k.startswith("tail.") for k in tx_keys) and "head.0.0.weight" in tx_keys
    assert not any(k.startswith("head.") for k in rx_keys) and "pairs" in rx_keys
    full_tx, full_rx = TxHead(MODEL), RxTail(MODEL)
    tx, rx = TxHead(tx_stem), RxTail(rx_stem)
    assert tx.fingerprint == rx.fingerprint == full_tx.fingerprint
    images = load_dataset("fashion-mnist", "test").images[:8].numpy()
    points = tx.encode(images)
    assert np.array_equal(points, full_tx.encode(images))
    sym = tx.constellation[points.reshape(-1)]
    nv = np.full(len(sym), 0.1, np.float32)
    batch = ReceivedBatch(0, 8, sym, nv, 1)
    assert np.allclose(rx.classify(batch).probabilities, full_rx.classify(batch).probabilities)
    with pytest.raises(CheckpointError, match="is a TX bundle of phydnn; a receiver"):
        load_receiver(tx_stem)
    with pytest.raises(CheckpointError, match="is a RX bundle of phydnn; a transmitter"):
        load_transmitter(rx_stem)
    with pytest.raises(ConfigError, match="already holds a bundle; pass --force"):
        export_bundles(MODEL, tmp_path / "m")
    with pytest.raises(CheckpointError, match="export cuts TX and RX bundles from a full"):
        export_bundles(tx_stem, tmp_path / "again")


def test_a_tampered_bundle_is_refused_by_its_fingerprint(tmp_path):
    tx_stem, _ = export_bundles(MODEL, tmp_path / "m")
    card = Path(f"{tx_stem}.json")
    card.write_text(card.read_text().replace(_fingerprint(), "0123456789abcdef"))
    with pytest.raises(CheckpointError, match="fingerprint .* is not the card's"):
        load_transmitter(tx_stem)


def _fingerprint() -> str:
    import json
    return json.loads(Path(f"{MODEL}.json").read_text())["fingerprint"]


HDR = PhyHeader("0123abcd", 513, 3, 25, 2047, 64, 0, 800, 7, "analog", 16, 40000)


def test_header_v2_carries_the_codec_fields_under_the_crc():
    got, _ = decode_header(encode_header(HDR))
    assert got == HDR
    data = bytearray(HDR.pack())
    data[5] ^= 1          # the fingerprint's first byte, after the CRC was computed
    with pytest.raises(HeaderError) as err:
        PhyHeader.unpack(bytes(data))
    assert err.value.reason == "crc"


@pytest.mark.parametrize("fields,reason", [
    ({"kind": "qam"}, "kind"), ({"bits_per_symbol": 3}, "bits_per_symbol"),
    ({"pilot_spacing": 0}, "pilots"), ({"codec_id": 0}, "codec"),
    ({"codec_field": 65536}, "codec_field"), ({"per_image": 0}, "geometry"),
    ({"kind": "psk", "bits_per_symbol": 2}, "pilots"),
    # dense PSK must carry the link's pilots, exactly every DENSE_PILOT_SPACING
    ({"kind": "psk", "bits_per_symbol": 4, "pilot_spacing": 0}, "pilots"),
    ({"kind": "psk", "bits_per_symbol": 3, "pilot_spacing": 16}, "pilots"),
    ({"kind": "bits", "bits_per_symbol": 2, "pilot_spacing": 32}, "pilots"),
])
def test_header_v2_refuses_fields_out_of_range(fields, reason):
    with pytest.raises(HeaderError) as err:
        PhyHeader(**{**HDR.__dict__, **fields}).pack()
    assert err.value.reason == reason


@pytest.mark.parametrize("version", [1, 2])
def test_a_frame_of_an_older_version_is_refused_under_version(version):
    """Versions 1 and 2 sent their header bits uncoded, three copies: a version-3 receiver
    says so instead of a CRC error."""
    if version == 1:
        body = struct.pack(">BB4sHHHHH", MAGIC, 1 << 4 | 2, bytes.fromhex("0123abcd"), 1, 0,
                           1, 784, 1)
    else:
        body = header_bytes("0123abcd", 1, 0, 1, 784, 1, 2, version=2, per_image=784)[:-4]
    old = encode_legacy_header(body + struct.pack(">I", zlib.crc32(body)))
    rng = np.random.default_rng(0)
    received = np.concatenate([old, rng.choice([-1.0, 1.0], len(encode_header(HDR)) - len(old))])
    with pytest.raises(HeaderError) as err:
        decode_header(received.astype(np.complex64))
    assert err.value.reason == "version"
    assert encode_header_bytes(HDR.pack()).shape == encode_header(HDR).shape


@pytest.mark.parametrize("bits_per_symbol,snr_db", [(1, 2.0), (2, 3.0), (2, 6.0), (2, 9.0)])
def test_bits_payload_ber_matches_gray_psk_theory(bits_per_symbol, snr_db):
    """BPSK: P_b = Q(sqrt(2 Es/N0)); Gray QPSK: each bit sees half the energy, Q(sqrt(Es/N0))."""
    rng = np.random.default_rng(int(snr_db * 10) + bits_per_symbol)
    spec = PayloadSpec("bits", bits_per_symbol)
    bits = rng.integers(0, 2, (100, 4000)).astype(np.uint8)
    y, nv = _awgn(map_values(spec, bits), snr_db, rng)
    rx = unmap_symbols(spec, y, np.full(y.shape, nv, np.float32), 4000)
    ber = float((rx.hard_bits() != bits).mean())
    es_n0 = 10 ** (snr_db / 10)
    theory = _q(math.sqrt(es_n0 * (2 if bits_per_symbol == 1 else 1)))
    sigma = math.sqrt(theory * (1 - theory) / bits.size)
    assert abs(ber - theory) < 4 * sigma, (ber, theory)


def test_bits_payload_llrs_are_calibrated():
    """In every |LLR| bin the measured error rate is the mean of 1 / (1 + e^|LLR|)."""
    rng = np.random.default_rng(3)
    spec = PayloadSpec("bits", 2)
    bits = rng.integers(0, 2, (200, 2000)).astype(np.uint8)
    y, nv = _awgn(map_values(spec, bits), 3.0, rng)
    rx = unmap_symbols(spec, y, np.full(y.shape, nv, np.float32), 2000)
    mag, wrong = np.abs(rx.values), rx.hard_bits() != bits
    for lo, hi in ((0, 0.5), (0.5, 1), (1, 2), (2, 3), (3, 5)):
        sel = (mag >= lo) & (mag < hi)
        expect = float(np.mean(1 / (1 + np.exp(mag[sel]))))
        sigma = math.sqrt(expect * (1 - expect) / sel.sum())
        assert abs(float(wrong[sel].mean()) - expect) < 4 * sigma + 1e-3, (lo, hi)


def test_analog_values_carry_the_noise_variance_of_es_n0():
    """Two values per symbol at peak power 1: each received value's error variance is the
    complex noise variance sigma^2 = 10^(-Es/N0/10), and that is what the receiver is told."""
    rng = np.random.default_rng(4)
    spec = PayloadSpec("analog", 0, 16)
    values = np.tanh(rng.standard_normal((50, 301))).astype(np.float32)
    sym = map_values(spec, values)
    assert np.abs(sym).max() <= 1.0 + 1e-6 and sym.shape == (50, 151)
    for snr in (0.0, 10.0, 20.0):
        y, nv = _awgn(sym, snr, rng)
        rx = unmap_symbols(spec, y, np.full(y.shape, nv, np.float32), 301)
        assert 10 * np.log10(np.var(rx.values - values) / nv) == pytest.approx(0, abs=0.1)
        assert np.allclose(rx.noise_var, nv)


def test_the_link_puts_pilots_on_dense_psk_only():
    from phydnn.link.payload import DENSE_PILOT_SPACING, link_pilot_spacing
    from phydnn.link.segment import segment_payload

    assert [link_pilot_spacing("psk", b) for b in (1, 2, 3, 4)] == [0, 0, 32, 32]
    assert link_pilot_spacing("analog", 0, 16) == 16 and link_pilot_spacing("bits", 2) == 0
    spec = PayloadSpec("psk", 4)
    segments = segment_payload(spec, np.zeros((64, 196), np.uint8), 3, "0123456789abcdef",
                               16384)
    (header, data), = segments
    assert header.pilot_spacing == DENSE_PILOT_SPACING and len(data) == 64 * 196
    assert header.n_symbols == 64 * 196 + 64 * 196 // 32 + 1      # 393 pilots on air
    assert PhyHeader.unpack(header.pack()).pilot_spacing == 32


def test_pilots_go_in_and_come_out():
    data = (np.arange(1, 1001) * 1j).astype(np.complex64)
    for spacing in (1, 7, 16, 255):
        air = insert_pilots(data, spacing)
        assert len(air) == 1000 + pilot_count(1000, spacing)
        assert np.array_equal(remove_pilots(air, spacing), data)
        assert air[0] == 1 and air[-1] == 1


def test_payload_spec_refuses_what_the_link_cannot_carry():
    with pytest.raises(ConfigError, match="payload kind 'qam' is not allowed"):
        PayloadSpec("qam").check()
    with pytest.raises(ConfigError, match="bits_per_symbol=3 is not allowed for a bits"):
        PayloadSpec("bits", 3).check()
    with pytest.raises(ConfigError, match="pilot_spacing=0 is not allowed for an analog"):
        PayloadSpec("analog", 0, 0).check()


def test_a_codec_defined_in_a_test_runs_the_simulated_link(tmp_path):
    from phydnn.data import load_dataset
    from phydnn.link.simulate import simulate_link

    path = codec_toy.make_bundle(tmp_path / "toy")
    test = load_dataset("fashion-mnist", "test").subset(2000)
    clean, noisy = simulate_link(path, test, 30.0), simulate_link(path, test, 0.0)
    assert clean > 0.55 and noisy < clean - 0.05     # a classifier (chance 0.1), hurt by noise

"""qa for phydnn.fec (gr-fec's codes on numpy) and the CRC-16: codewords round-trip, rates
follow the formulas, and each decoder's codeword error rate equals that of gr-fec's own
reference chain (``extended_encoder`` -> BPSK -> AWGN -> ``extended_decoder`` in a GNU Radio
flowgraph, as gr-fec's examples build it) at two SNRs, within the binomial spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


def qpsk_llrs(coded: np.ndarray, esn0_db: float, rng: np.random.Generator) -> np.ndarray:
    """Exact LLRs of Gray QPSK bits (each bit on one axis, amplitude 1/sqrt 2) at Es/N0."""
    nv = 10 ** (-esn0_db / 10)
    a = 1 / math.sqrt(2)
    y = a * (1 - 2 * coded.astype(np.float64)) + rng.standard_normal(coded.shape) * math.sqrt(
        nv / 2)
    return (4 * a * y / nv).astype(np.float32)


def reference_cwer(encoder, decoder, k: int, n_words: int, esn0_db: float,
                   rng: np.random.Generator) -> float:
    """gr-fec's own chain: bits -> extended_encoder -> +-1 -> AWGN (the per-bit SNR of
    Gray QPSK at Es/N0: noise variance 10^(-Es/N0/10) per real) -> extended_decoder."""
    from gnuradio import blocks, digital, fec, gr

    bits = rng.integers(0, 2, n_words * k).astype(np.uint8)
    tb = gr.top_block()
    src = blocks.vector_source_b(bits.tolist())
    enc = fec.extended_encoder(encoder_obj_list=encoder, threading=None, puncpat="11")
    to_pm = digital.map_bb([-1, 1])
    to_f = blocks.char_to_float(1, 1)
    sigma = math.sqrt(10 ** (-esn0_db / 10))
    noise = blocks.vector_source_f((rng.standard_normal(n_words * 4 * k) * sigma)
                                   .astype(np.float32).tolist())
    add = blocks.add_ff()
    dec = fec.extended_decoder(decoder_obj_list=decoder, threading=None, ann=None,
                               puncpat="11", integration_period=10000)
    sink = blocks.vector_sink_b()
    tb.connect(src, enc, to_pm, to_f, (add, 0))
    tb.connect(noise, (add, 1))
    tb.connect(add, dec, sink)
    tb.run()
    out = np.array(sink.data(), np.uint8)
    words = len(out) // k
    assert words >= n_words * 0.9, (words, n_words)
    return float((out[:words * k].reshape(words, k) != bits[:words * k].reshape(words, k))
                 .any(1).mean())


def ours_cwer(code, n_words: int, esn0_db: float, rng: np.random.Generator) -> float:
    bits = rng.integers(0, 2, (n_words, code.k)).astype(np.uint8)
    decoded = code.decode(qpsk_llrs(code.encode(bits), esn0_db, rng))
    return float((decoded != bits).any(1).mean())


def close(p: float, q: float, n: int) -> bool:
    """Two error rates over n words each agree within 4 binomial standard deviations."""
    spread = math.sqrt(max(p * (1 - p) + q * (1 - q), 1.0 / n) / n)
    return abs(p - q) <= 4 * spread


@pytest.mark.parametrize("name", ["cc12", "cc23", "cc34", "ldpc300", "ldpc500", "uncoded"])
def test_codewords_round_trip_and_rate(name):
    from phydnn.fec import get_code

    code = get_code(name, 200)
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, (5, code.k)).astype(np.uint8)
    coded = code.encode(bits)
    assert coded.shape == (5, code.n)
    big = np.where(coded == 0, 50.0, -50.0).astype(np.float32)     # noise-free LLRs
    assert np.array_equal(code.decode(big), bits)
    # convolutional: 2 (200 + 6) = 412 mother bits, punctured 3 of 4 (2/3) or 4 of 6 (3/4)
    expected_n = {"cc12": 412, "cc23": 309, "cc34": 275, "ldpc300": 300, "ldpc500": 500,
                  "uncoded": 200}[name]
    assert code.n == expected_n


def test_refusals_name_what_is_allowed():
    from phydnn.errors import ConfigError
    from phydnn.fec import get_code

    with pytest.raises(ConfigError, match="cc12"):
        get_code("turbo", 100)
    code = get_code("cc12", 100)
    with pytest.raises(ConfigError, match=r"\(B, 100\)"):
        code.encode(np.zeros((2, 99), np.uint8))


@pytest.mark.parametrize("esn0_db", [1.0, 2.5])
def test_viterbi_matches_gr_fec_reference_chain(esn0_db):
    from gnuradio import fec

    from phydnn.fec import get_code

    k, n_words = 200, 600
    rng = np.random.default_rng(int(esn0_db * 10))
    enc = fec.cc_encoder.make(k, 7, 2, [109, 79], 0, fec.CC_TERMINATED, False)
    dec = fec.cc_decoder.make(k, 7, 2, [109, 79], 0, -1, fec.CC_TERMINATED, False)
    ref = reference_cwer(enc, dec, k, n_words, esn0_db, rng)
    ours = ours_cwer(get_code("cc12", k), n_words, esn0_db, rng)
    assert 0.02 < ref < 0.98, ref            # the SNRs sit on the waterfall
    assert close(ours, ref, n_words), (ours, ref)


@pytest.mark.parametrize("esn0_db", [1.4, 1.7])
def test_ldpc_matches_gr_fec_reference_chain(esn0_db):
    from gnuradio import fec

    from phydnn.fec import get_code
    from phydnn.fec.codes import LDPC_DIR

    code = get_code("ldpc500", 0)
    n_words = 300
    rng = np.random.default_rng(int(esn0_db * 100))
    alist = str(LDPC_DIR / "n_0500_k_0127_gap_21.alist")
    sigma = math.sqrt(10 ** (-esn0_db / 10))
    enc = fec.ldpc_encoder_make(alist)
    dec = fec.ldpc_decoder.make(alist, sigma, 50)
    ref = reference_cwer(enc, dec, code.k, n_words, esn0_db, rng)
    ours = ours_cwer(code, n_words, esn0_db, rng)
    assert 0.02 < ref < 0.98, ref
    assert close(ours, ref, n_words), (ours, ref)


def test_crc16_check_value_and_single_bit_errors():
    from phydnn.link.crc import crc16_bits, crc16_ok

    msg = np.unpackbits(np.frombuffer(b"123456789", np.uint8))[None]
    value = int("".join(map(str, crc16_bits(msg)[0])), 2)
    assert value == 0x29B1
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2, (64, 120)).astype(np.uint8)
    framed = np.concatenate([words, crc16_bits(words)], 1)
    assert crc16_ok(framed).all()
    flipped = framed.copy()
    flipped[np.arange(64), rng.integers(0, 136, 64)] ^= 1
    assert not crc16_ok(flipped).any()

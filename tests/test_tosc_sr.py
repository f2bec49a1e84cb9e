"""TOSC-SR (paper 004): the bit channel against the link's exact LLRs and against theory,
the binariser, the receivers' soft bits, the trainer's refusals and a bundle through the
link's payload mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from phydnn.codecs.base import PayloadSpec
from phydnn.codecs.tosc_sr import binarise, bit_channel, soft_bits
from phydnn.errors import ConfigError
from phydnn.link.payload import map_values, unmap_symbols
from phydnn.training.image_quality import psnr, silhouette_iou, ssim


def test_bit_channel_llr_is_the_links_exact_qpsk_llr():
    """Gray QPSK LLRs are separable: 4 a r / sigma^2, MSB on the imaginary part."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (3, 40)).astype(np.uint8)
    spec, nv = PayloadSpec("bits", 2), 0.3
    sym = map_values(spec, bits)
    y = (sym + (rng.standard_normal(sym.shape) + 1j * rng.standard_normal(sym.shape))
         * math.sqrt(nv / 2)).astype(np.complex64)
    llr = unmap_symbols(spec, y, np.full(y.shape, nv, np.float32), 40).values
    a = 1 / math.sqrt(2)
    ours = np.stack([4 * a * y.imag / nv, 4 * a * y.real / nv], -1).reshape(3, -1)
    np.testing.assert_allclose(llr, ours, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("bps", [1, 2])
def test_bit_channel_error_rate_matches_theory(bps):
    """Per-bit error rate Q(sqrt(2 a^2 / sigma^2)) at Es/N0 = 3 dB."""
    nv = 10 ** (-3 / 10)
    z = torch.randint(0, 2, (200, 1000), generator=torch.Generator().manual_seed(0)).float()
    llr = bit_channel(z, torch.full((200,), nv), bps, torch.Generator().manual_seed(1))
    ber = float(((llr < 0).float() != z).float().mean())
    a2 = 1.0 if bps == 1 else 0.5
    theory = 0.5 * math.erfc(math.sqrt(2 * a2 / nv) / math.sqrt(2))
    assert abs(ber - theory) < 0.05 * theory + 1e-3


def test_binariser_forward_is_a_threshold_backward_the_identity():
    e = torch.tensor([0.1, 0.49, 0.51, 0.9], requires_grad=True)
    z = binarise(e)
    assert z.tolist() == [0.0, 0.0, 1.0, 1.0]
    (z * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert e.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_soft_bits_and_erasures_as_unknown():
    llr = torch.tensor([[4.0, -0.5, 0.0, 30.0]])
    erased = torch.tensor([[False, False, False, True]])
    soft = soft_bits(llr, erased, "soft")
    assert torch.allclose(soft, torch.tensor([[math.tanh(2.0), math.tanh(-0.25), 0.0, 0.0]]))
    assert soft_bits(llr, erased, "hard").tolist() == [[1.0, -1.0, 0.0, 0.0]]


def test_image_quality_metrics():
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(ssim(x, x), torch.ones(4), atol=1e-5)
    noisy = (x + 0.1 * torch.randn_like(x))
    expect = -10 * torch.log10((noisy - x).pow(2).flatten(1).mean(1))
    assert torch.allclose(psnr(x, noisy), expect)
    assert float(ssim(x, noisy).max()) < 0.99
    assert silhouette_iou(x, x).tolist() == [1.0] * 4
    assert float(silhouette_iou(x, torch.zeros_like(x)).max()) == 0.0


def test_trainer_refuses_an_empty_loss_and_a_foreign_init(tmp_path):
    from phydnn.training.tosc import TOSCConfig, train_tosc
    with pytest.raises(ConfigError, match="beta=0 and mse_weight=0"):
        train_tosc(TOSCConfig(beta=0.0, mse_weight=0.0, out=str(tmp_path / "a")))
    with pytest.raises(ConfigError, match="latent_bits"):
        train_tosc(TOSCConfig(latent_bits=3, out=str(tmp_path / "b")))
    with pytest.raises(ConfigError, match="is not a tosc-sr bundle"):
        train_tosc(TOSCConfig(init="models/fmnist_deepjscc", out=str(tmp_path / "c"),
                              epochs=1))


def test_a_trained_bundle_over_the_link_payload(tmp_path, monkeypatch):
    """One short epoch on a subset; the bundle's two sides through map_values/unmap_symbols
    give images in [0, 1] and probabilities; noise-free soft and hard receivers agree."""
    import phydnn.training.tosc as tosc
    from phydnn.codecs import load_receiver, load_transmitter
    from phydnn.data import load_dataset
    real = tosc.load_dataset
    monkeypatch.setattr(tosc, "load_dataset",
                        lambda n, s, r=None: real(n, s, r).subset(600 if s == "train" else 200))
    card = tosc.train_tosc(tosc.TOSCConfig(epochs=1, val_images=100, threads=2,
                                           out=str(tmp_path / "rd")))
    assert card["bits_per_image"] == 196 and card["symbols_per_image"] == 98
    assert card["variant"] == "rd" and set(card["test_vs_snr"]["12.0"]) == {"soft", "hard"}
    tx, rx = load_transmitter(tmp_path / "rd"), load_receiver(tmp_path / "rd")
    images = load_dataset("fashion-mnist", "test").images[:8].numpy()
    sent = tx.encode(images)
    assert sent.values.shape == (8, 196) and set(np.unique(sent.values)) <= {0, 1}
    sym = map_values(tx.spec, sent.values)
    payload = unmap_symbols(rx.spec, sym, np.full(sym.shape, 1e-3, np.float32), 196)
    assert (payload.hard_bits() == sent.values).all()
    out = rx.decode(payload)
    assert out.probabilities.shape == (8, 10)
    x_hat = out.extra["images"]
    assert x_hat.shape == (8, 1, 28, 28) and x_hat.min() >= 0 and x_hat.max() <= 1
    with pytest.raises(ConfigError, match="already holds a model"):
        tosc.train_tosc(tosc.TOSCConfig(epochs=1, out=str(tmp_path / "rd")))

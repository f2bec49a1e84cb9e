"""Inference backends (phydnn.models.backends) and the device's ONNX graph (phydnn export
--onnx): every backend sends PhyDNN's point indices and the tail's predictions as eager
does, the exported graph run by ONNX Runtime sends what torch sends, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4")
FAST = ("eager", "inference_mode", "channels_last", "torchscript", "torchscript_onednn",
        "onnxruntime")   # compile: bench, slow


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    from phydnn.codecs import load_transmitter
    return load_transmitter(MODEL).test_inputs(256)


@pytest.mark.parametrize("backend", FAST)
def test_every_backend_sends_eagers_point_indices(images, backend):
    from phydnn.codecs import load_transmitter
    from phydnn.models.backends import runner

    tx = load_transmitter(MODEL)
    ref = tx.graph()(images)
    out = runner(tx.graph(), images[:1], backend)(images)
    assert out.dtype == torch.int64 and torch.equal(out, ref)
    assert len(torch.unique(ref)) > 1              # the indices carry something


@pytest.mark.parametrize("backend", ["inference_mode", "onnxruntime"])
def test_the_link_endpoints_run_a_backend_with_the_same_results(backend):
    from phydnn.data import load_dataset
    from phydnn.link import RxTail, TxHead
    from phydnn.link.payload import map_values, unmap_symbols

    pixels = load_dataset("fashion-mnist", "test").images[:64].numpy()
    eager_tx, other_tx = TxHead(MODEL), TxHead(MODEL, backend=backend)
    sent = eager_tx.encode_payload(pixels)
    assert np.array_equal(sent.values, other_tx.encode(pixels))
    rng = np.random.default_rng(3)
    sym = map_values(eager_tx.spec, sent.values)
    y = (sym + 0.3 * (rng.standard_normal(sym.shape) + 1j * rng.standard_normal(sym.shape))
         ).astype(np.complex64)
    outs = []
    for rx in (RxTail(MODEL, "soft"), RxTail(MODEL, "soft", backend=backend)):
        payload = unmap_symbols(rx.spec, y, np.full(y.shape, 0.18, np.float32),
                                sent.values.shape[1], sent.codec_field)
        outs.append(rx.side.decode(payload))
    assert np.array_equal(outs[0].labels, outs[1].labels)
    np.testing.assert_allclose(outs[0].probabilities, outs[1].probabilities, atol=1e-4)


def test_unknown_backend_and_unwired_codec_are_refused():
    from phydnn.errors import ConfigError
    from phydnn.link import TxHead

    with pytest.raises(ConfigError, match="backend"):
        TxHead(MODEL, backend="tensorrt")
    with pytest.raises(ConfigError, match="eager only"):
        TxHead(str(ROOT / "models" / "fmnist_multiexit20"), backend="onnxruntime")


def test_export_onnx_writes_the_tx_graph_that_onnxruntime_runs_as_torch(tmp_path, images):
    import onnxruntime as ort

    from phydnn.cli.__main__ import main
    from phydnn.codecs import load_transmitter

    assert main(["export", "--model", MODEL, "--onnx", "--out", str(tmp_path / "dev"),
                 "--check-images", "256"]) == 0
    path = tmp_path / "dev_tx.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": images.numpy()})[0]        # any batch size: dynamic
    assert np.array_equal(got, load_transmitter(MODEL).graph()(images).numpy())
    # never overwritten without --force; then replaced
    before = path.stat().st_mtime_ns
    assert main(["export", "--model", MODEL, "--onnx", "--out", str(tmp_path / "dev"),
                 "--check-images", "64"]) == 2
    assert path.stat().st_mtime_ns == before


def test_export_onnx_refuses_a_codec_without_one_graph(tmp_path):
    from phydnn.cli.__main__ import main

    assert main(["export", "--model", str(ROOT / "models" / "fmnist_multiexit20"), "--onnx",
                 "--out", str(tmp_path / "me")]) == 2
    assert not list(tmp_path.iterdir())

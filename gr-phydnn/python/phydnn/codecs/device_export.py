"""The TX side of a codec bundle as an ONNX graph for the device (``phydnn export --onnx``):
what a Jetson-class device would hand to TensorRT. The graph is the transmitter's
:meth:`~phydnn.codecs.base.Transmitter.graph` (PhyDNN: normalised images -> point indices),
exported by :func:`phydnn.models.backends.export_onnx`, then run by ONNX Runtime on test
images and kept only if it sends what torch sends on every one of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phydnn.codecs.base import Transmitter
from phydnn.errors import CheckpointError, PhyDNNError

__all__ = ["export_tx_onnx", "onnx_agreement"]

CHECK_BATCH = 256    # test images per ONNX Runtime call while checking


def onnx_agreement(onnx_path: str | Path, tx: Transmitter, images: int = 1000) -> float:
    """Share of the first ``images`` test images on which the ONNX graph at ``onnx_path``
    (ONNX Runtime) gives the values transmitter ``tx`` gives in torch."""
    import onnxruntime as ort

    graph = tx.graph().eval()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    same = 0
    x = tx.test_inputs(images)
    for batch in torch.split(x, CHECK_BATCH):
        with torch.no_grad():
            ref = graph(batch).numpy()
        out = session.run(None, {"x": batch.numpy()})[0]
        same += int(np.sum(np.all((out == ref).reshape(len(batch), -1), axis=1)))
    return same / len(x)


def export_tx_onnx(model_path: str | Path, out: str | Path | None = None, force: bool = False,
                   check_images: int = 1000) -> tuple[Path, float]:
    """Write ``OUT_tx.onnx`` (default OUT: the bundle's path) from a full or TX bundle, check
    it on ``check_images`` test images, and return (path, agreement). Refuses to overwrite
    unless ``force``; a graph that disagrees on any image is removed and refused."""
    from phydnn.codecs import load_transmitter
    from phydnn.models.backends import export_onnx

    path = Path(f"{out or model_path}_tx.onnx")
    if path.exists() and not force:
        raise CheckpointError(f"{path} exists; pass --force to replace it")
    tx = load_transmitter(model_path)
    example = torch.zeros(1, *tx.card["input_shape"])
    tmp = path.with_suffix(".onnx.tmp")
    export_onnx(tx.graph(), example, tmp)
    agreement = onnx_agreement(tmp, tx, check_images)
    if agreement < 1.0:
        tmp.unlink()
        raise PhyDNNError(f"the ONNX graph of {model_path} sends other values than torch on "
                          f"{(1 - agreement) * 100:.2f} % of {check_images} test images; "
                          f"not written")
    tmp.replace(path)
    return path, agreement

"""Inference backends for the networks the link runs per batch (a codec's head at the device,
its tail at the server): the same module, run by

* ``eager``: torch, under ``no_grad`` (what the codecs did);
* ``inference_mode``: torch under ``inference_mode`` (no version counters, no views kept);
* ``channels_last``: a copy of the module in NHWC memory format (oneDNN's preferred layout
  for convolutions on x86), inputs converted to it;
* ``compile``: ``torch.compile`` (Inductor, C++ code generated and built with the system's
  g++ on first call: tens of seconds, then cached per input shape);
* ``torchscript``: the module traced and frozen (``torch.jit.freeze``: weights inlined as
  constants, each batch norm folded into the convolution before it; a second to set up);
* ``torchscript_onednn``: frozen, then ``torch.jit.optimize_for_inference`` (oneDNN's
  blocked layouts kept between convolutions, convolution + add + ReLU fused);
* ``onnxruntime``: the module exported to ONNX (:func:`export_onnx`) and run by ONNX
  Runtime's CPU provider (what a Jetson-class device would hand to TensorRT).

Each is a callable Tensor -> Tensor with the module's outputs; ``phydnn bench`` times them at
batch 64 and checks that they agree with eager on the whole test set (same point indices at
the head, same predictions at the tail) before one is used (:mod:`phydnn.bench.inference`).
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from phydnn.errors import ConfigError, check_choice

__all__ = ["BACKENDS", "export_onnx", "runner"]

BACKENDS = ("eager", "inference_mode", "channels_last", "compile", "torchscript",
            "torchscript_onednn", "onnxruntime")
OPSET = 18

Runner = Callable[[torch.Tensor], torch.Tensor]


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """``module`` (in eval mode) as an ONNX graph at ``path``: one input ``x`` and one output
    ``y``, the batch dimension dynamic (torch.export's exporter, opset :data:`OPSET`)."""
    path = Path(path)
    module = module.eval()
    if example.shape[0] < 2:            # torch.export specialises a dimension of size 1
        example = example.expand(2, *example.shape[1:]).contiguous()
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)      # "torchvision is not installed": nothing here needs it
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)   # torch.export's deprecations
            torch.onnx.export(module, (example,), str(path), input_names=["x"],
                              output_names=["y"], opset_version=OPSET, dynamo=True,
                              dynamic_shapes=({0: torch.export.Dim("batch")},),
                              external_data=False, verbose=False)   # one file, weights in it
    finally:
        log.setLevel(level)
    return path


def _onnxruntime(module: torch.nn.Module, example: torch.Tensor, threads: int) -> Runner:
    try:
        import onnxruntime as ort
    except ImportError as exc:      # pragma: no cover - tools/setup installs it
        raise ConfigError("backend='onnxruntime' needs the onnxruntime package "
                          "(tools/setup installs it)") from exc
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(module, example, Path(tmp) / "module.onnx")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        # idle threads sleep: spinning ones would take the cores from GNU Radio's blocks
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(path.read_bytes(), options,
                                       providers=["CPUExecutionProvider"])

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"x": x.detach().cpu().numpy()})[0])
    return run


def _torchscript(module: torch.nn.Module, example: torch.Tensor, onednn: bool) -> Runner:
    """The module traced on ``example`` (the graphs here have no data-dependent control
    flow), frozen, and with ``onednn`` optimised for inference."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # TorchScript's deprecation notices
        frozen = torch.jit.freeze(torch.jit.trace(module, example))
        if onednn:
            frozen = torch.jit.optimize_for_inference(frozen)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return frozen(x)
    return run


def runner(module: torch.nn.Module, example: torch.Tensor, backend: str = "eager",
           threads: int = 0) -> Runner:
    """``module`` (put in eval mode) run by ``backend`` (:data:`BACKENDS`); ``example`` is an
    input of the right shape (the ONNX export traces it; its batch size does not bind)."""
    check_choice("backend", backend, BACKENDS)
    module = module.eval()
    if backend == "onnxruntime":
        return _onnxruntime(module, example, threads)
    if backend == "channels_last":
        if example.dim() != 4:
            raise ConfigError(f"backend='channels_last' needs 4-d (N, C, H, W) inputs, not "
                              f"{example.dim()}-d")
        nhwc = copy.deepcopy(module).to(memory_format=torch.channels_last)

        def run_nhwc(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return nhwc(x.contiguous(memory_format=torch.channels_last))
        return run_nhwc
    if backend.startswith("torchscript"):
        return _torchscript(module, example, backend == "torchscript_onednn")
    if backend == "compile":
        compiled = torch.compile(module)

        def run_compiled(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return compiled(x)
        return run_compiled
    context = torch.inference_mode if backend == "inference_mode" else torch.no_grad

    def run(x: torch.Tensor) -> torch.Tensor:
        with context():
            return module(x)
    return run

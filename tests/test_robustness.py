"""Robustness of the core and the command line (the robustness issue, no GNU Radio flowgraph):
property-based fuzzing of the segment receiver and the reassembler (hypothesis), model files
crafted to run code or cut short, and bad settings refused with one line."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzz_frames import POSITIONS, frame, header_bytes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from phydnn.link import HeaderError, PhyHeader, Reassembler, SegmentSync
from phydnn.link.preamble import RAMP
from phydnn.link.segment import MAX_BATCH_IMAGES
from phydnn.link.sync import SILENCE, TAIL_CHECK
from phydnn.phy.constellation import psk_points

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4"
REASONS = {"crc", "magic", "version", "truncated", "bits_per_symbol", "segment", "length",
           "images", "batch_id", "fingerprint", "kind", "pilots", "codec", "codec_field",
           "geometry"}
QPSK = psk_points(4).astype(np.complex64)

u16 = st.integers(0, 65535)


# --- fuzzing the receiver's core ----------------------------------------------------------------
_raw_body = st.binary(min_size=23, max_size=23)
_field_body = st.builds(
    lambda b, i, c, n, m, bps: header_bytes("0123abcd", b, i, c, n, m, bps)[:23],
    u16, st.integers(0, 3), st.integers(1, 3), st.integers(0, 3000), u16,
    st.one_of(st.just(2), st.integers(0, 15)))


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(_raw_body, _field_body), valid_crc=st.booleans(),
       payload=st.integers(0, 3000), cut=st.one_of(st.just(10**6), st.integers(0, 4000)),
       seed=st.integers(0, 2**16))
def test_any_frame_gives_a_checked_segment_or_a_named_refusal(body, valid_crc, payload, cut,
                                                               seed):
    """Arbitrary header bytes, or header fields of any value (with or without a matching
    CRC), any payload, cut anywhere: the segment receiver returns a header that passes every
    check with exactly the payload it announced, or raises HeaderError with a known reason;
    nothing else escapes. A length field may overrun the true payload only by less than what
    the silent-tail check can see (the share 1 - SILENCE of its last TAIL_CHECK symbols; the
    reassembler's geometry check refuses the rest)."""
    import struct
    import zlib

    crc = zlib.crc32(body) if valid_crc else zlib.crc32(body) ^ 1
    rng = np.random.default_rng(seed)
    fr = frame(body + struct.pack(">I", crc), QPSK[rng.integers(0, 4, payload)])[len(RAMP):]
    fr = fr[:cut] + 0.01 * (rng.standard_normal(min(cut, len(fr))) + 0j)
    try:
        result = SegmentSync(QPSK).process(fr.astype(np.complex64))
    except HeaderError as err:
        event(err.reason)
        assert err.reason in REASONS
        return
    event("accepted")
    n = result.header.n_symbols
    assert result.header.check() and result.header.bits_per_symbol == 2
    assert len(result.payload) == n <= payload + (1 - SILENCE) * min(n, TAIL_CHECK)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(seg_index=u16, seg_count=u16, n_symbols=u16, n_images=u16)
def test_reassembler_sizes_nothing_it_was_not_built_for(seg_index, seg_count, n_images,
                                                        n_symbols):
    """Any header that passes its own checks: the reassembler places it, or refuses it by
    reason before allocating; what it holds never exceeds max_images x positions."""
    header = PhyHeader("0123abcd", 7, seg_index, seg_count, n_symbols, n_images, 2)
    try:
        header.check()
    except HeaderError:
        return
    reasm = Reassembler(POSITIONS, max_images=MAX_BATCH_IMAGES)
    try:
        reasm.add(header, np.ones(n_symbols, np.complex64), 0.1)
    except HeaderError as err:
        assert err.reason in {"images", "geometry"}
        return
    held = sum(len(e["sym"]) for e in reasm._open.values())
    assert n_images <= MAX_BATCH_IMAGES and held <= MAX_BATCH_IMAGES * POSITIONS


def test_a_header_claiming_65535_images_is_refused_before_allocation():
    h = PhyHeader.unpack(header_bytes("0123abcd", 1, 0, 65535, 785, 65535))
    with pytest.raises(HeaderError) as err:
        Reassembler(POSITIONS).add(h, np.ones(785, np.complex64), 0.1)
    assert err.value.reason == "images"


# --- unsafe model files ---------------------------------------------------------------------
class _RunsCode:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _bundle_copy(tmp_path: Path, name: str = "m") -> Path:
    for suffix in (".json", ".safetensors"):
        (tmp_path / f"{name}{suffix}").write_bytes(MODEL.with_suffix(suffix).read_bytes())
    return tmp_path / name


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_model_file_crafted_to_run_code_is_refused_and_nothing_runs(tmp_path, writer):
    import torch

    from phydnn.errors import CheckpointError
    from phydnn.models import load_phydnn

    marker = tmp_path / "code_ran"
    bundle = _bundle_copy(tmp_path)
    weights = bundle.with_suffix(".safetensors")
    if writer == "pickle":
        weights.write_bytes(pickle.dumps({"w": _RunsCode(marker)}))
    else:
        torch.save({"w": _RunsCode(marker)}, weights)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_phydnn(bundle)
    assert not marker.exists()
    # the control: the same bytes, unpickled, do run code (torch.load reads a .safetensors
    # name as safetensors, so the control reads a copy)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(weights.read_bytes())
    proc = subprocess.run([sys.executable, "-c", "import pickle, sys, torch; "
                    "torch.load(sys.argv[1], weights_only=False) if sys.argv[2] == 'torch.save' "
                    "else pickle.loads(open(sys.argv[1], 'rb').read())", str(copy), writer],
                   capture_output=True, text=True)
    assert marker.exists(), proc.stderr


@pytest.mark.parametrize("damage", ["truncated", "header_bytes", "absurd_header_length",
                                    "empty"])
def test_a_damaged_safetensors_file_gives_one_clear_error(tmp_path, damage):
    from phydnn.errors import CheckpointError
    from phydnn.models import load_phydnn

    bundle = _bundle_copy(tmp_path)
    weights = bundle.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "header_bytes":
        data[12:20] = b"\xff" * 8
    elif damage == "absurd_header_length":
        data[:8] = (1 << 62).to_bytes(8, "little")
    else:
        data = bytearray()
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_phydnn(bundle)


# --- bad settings -------------------------------------------------------------------------------
def _cli(argv: list[str], capsys) -> tuple[int, str]:
    from phydnn.cli.__main__ import main

    try:
        rc = main(argv)
    except SystemExit as exc:       # argparse's own refusals
        rc = int(exc.code)
    captured = capsys.readouterr()
    return rc, captured.err + captured.out


@pytest.mark.parametrize("argv,message", [
    (["--snr", "abc"], "argument --snr: invalid float value: 'abc'"),
    (["--snr", "200"], "--snr 200.0 is not allowed; Es/N0 must be in [-10, 60] dB"),
    (["--snr", "nan"], "--snr nan is not allowed"),
    (["--model", "/nonexistent/model"], "no PhyDNN model at /nonexistent/model"),
    (["--dataset", "digits"], "--dataset digits has images of shape (1, 8, 8); the model"),
    (["--dataset", "mnist-audio"], "dataset='mnist-audio' is not allowed"),
    (["--segment-loss", "1.5"], "--segment-loss 1.5 is not allowed"),
    (["--receiver", "maybe"], "receiver='maybe' is not allowed; choose one of: 'soft', 'hard'"),
    (["--samp-rate", "-1"], "samp-rate=-1.0 is not allowed"),
    (["--profile", "itu-mars"], "profile='itu-mars' is not allowed"),
    (["--fading", "slow"], "fading='slow' is not allowed"),
    (["--taps", "1,x"], "--taps '1,x' is not allowed; write comma-separated complex numbers"),
    (["--taps", "0,0"], "at least one tap must be nonzero"),
    (["--taps", "1,0.5", "--profile", "itu-indoor-b"], "are not allowed together"),
    (["--doppler", "0.7"], "--doppler 0.7 is not allowed"),
])
def test_loopback_refuses_bad_settings_with_one_line(argv, message, capsys):
    rc, out = _cli(["loopback", *argv], capsys)
    assert rc == 2 and message in out and "Traceback" not in out
    assert len([line for line in out.splitlines() if "error" in line]) == 1


def test_a_dataset_that_is_not_installed_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PHYDNN_CIFAR_ROOT", str(tmp_path))
    rc, out = _cli(["loopback", "--dataset", "cifar10"], capsys)
    assert rc == 2 and "cifar10 not found" in out and "never downloads" in out


def test_a_damaged_model_stops_the_loopback_before_it_starts(tmp_path, capsys):
    bundle = _bundle_copy(tmp_path)
    weights = bundle.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    rc, out = _cli(["loopback", "--model", str(bundle)], capsys)
    assert rc == 2 and "is not a valid safetensors file" in out and "Traceback" not in out

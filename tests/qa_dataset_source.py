"""qa for phydnn.dataset_source: PDUs in the documented format, real images, clean stop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import poll, read_lines, requires_gnuradio

pytestmark = requires_gnuradio


def _collect(src, expected: int, timeout: float = 20.0):
    from gnuradio import blocks, gr
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect((src, "batches"), (dbg, "store"))
    tb.start()
    deadline = time.monotonic() + timeout
    while dbg.num_messages() < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    tb.stop()
    tb.wait()
    return [dbg.get_message(i) for i in range(dbg.num_messages())]


def test_emits_digits_batches_with_metadata(digits_test):
    from gnuradio import phydnn

    from phydnn.blocks.pdu import split_pdu
    src = phydnn.dataset_source("digits", "test", batch_size=64, n_images=150)
    msgs = _collect(src, 3)
    assert len(msgs) == 3
    sizes, labels = [], []
    for i, msg in enumerate(msgs):
        meta, data = split_pdu(msg)
        assert meta["batch_id"] == i and tuple(meta["image_shape"]) == (1, 8, 8)
        assert meta["dataset"] == "digits" and data.dtype == np.uint8
        assert data.size == meta["n_images"] * 64
        sizes.append(meta["n_images"])
        labels.append(np.asarray(meta["labels"]))
        imgs = data.reshape(-1, 1, 8, 8)
        first = 64 * i
        assert np.array_equal(imgs, digits_test.images[first:first + len(imgs)].numpy())
    assert sizes == [64, 64, 22]
    assert np.array_equal(np.concatenate(labels), digits_test.labels[:150].numpy())


def test_bad_settings_are_refused():
    from gnuradio import phydnn

    from phydnn.errors import ConfigError
    with pytest.raises(ConfigError, match="batch_size="):
        phydnn.dataset_source("digits", "test", batch_size=0)
    with pytest.raises(ConfigError, match="dataset="):
        phydnn.dataset_source("imagenet", "test")


FLOWGRAPH = Path(__file__).resolve().parents[1] / "flowgraphs" / "dataset_source_debug.grc"


def test_shipped_flowgraph_compiles_headless_and_runs(tmp_path):
    """flowgraphs/dataset_source_debug.grc compiles with grcc; the program prints the PDUs."""
    res = subprocess.run(["grcc", "-o", str(tmp_path), str(FLOWGRAPH)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    program = tmp_path / "dataset_source_debug.py"
    assert "phydnn.dataset_source('digits'" in program.read_text()
    # line-buffered stdout (message_debug prints through C stdio): each PDU is read as it
    # is printed, and Enter is pressed once both batches are there, not after a fixed time
    proc = subprocess.Popen(["stdbuf", "-oL", sys.executable, "-u", str(program)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = read_lines(proc.stdout)
    poll(lambda: "".join(lines).count("batch_id") >= 2 or proc.poll() is not None, 60,
         "the two batches printed by message_debug")
    proc.stdin.write("\n")
    proc.stdin.close()
    proc.wait(timeout=60)
    err, out = proc.stderr.read(), "".join(lines)
    assert proc.returncode == 0, err[-2000:]
    assert out.count("batch_id") == 2 and "n_images" in out

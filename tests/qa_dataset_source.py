"""qa for phydnn.dataset_source: PDUs in the documented format, real images, clean stop."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from conftest import requires_gnuradio

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


def test_grc_block_yaml_compiles(tmp_path):
    """A flowgraph using the block compiles headless with grcc and runs."""
    grc = tmp_path / "src.grc"
    grc.write_text(GRC_TEMPLATE)
    res = subprocess.run(["grcc", "-o", str(tmp_path), str(grc)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "phydnn.dataset_source('digits'" in (tmp_path / "src_test.py").read_text()


GRC_TEMPLATE = """options:
  parameters: {author: '', category: '[GRC Hier Blocks]', generate_options: no_gui,
    id: src_test, output_language: python, run: 'True', title: src test}
  states: {coordinate: [8, 8], rotation: 0, state: enabled}
blocks:
- name: src
  id: phydnn_dataset_source
  parameters: {batch_size: '16', data_root: "''", dataset: "'digits'", interval_ms: '0',
    n_images: '32', split: "'test'"}
  states: {coordinate: [100, 100], rotation: 0, state: enabled}
- name: dbg
  id: blocks_message_debug
  parameters: {en_uvec: 'True'}
  states: {coordinate: [400, 100], rotation: 0, state: enabled}
connections:
- [src, batches, dbg, store]
metadata: {file_format: 1}
"""

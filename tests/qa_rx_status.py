"""qa: a receiver says what it hears. The periodic status line, the hint after a silence with
its causes (nothing at all; samples at another samples-per-symbol), the summary on SIGTERM
with the images never seen apart, and the Qt displays fed by the Tail RX's ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import poll, read_lines, requires_gnuradio

pytestmark = requires_gnuradio

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4")


def _address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _start_rx(address: str, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    from phydnn.programs import compile_flowgraph, flowgraph_env

    rx = compile_flowgraph("phydnn_rx")
    proc = subprocess.Popen([sys.executable, "-u", str(rx), "--model", MODEL, "--address",
                             address, "--status-s", "1", "--hint-s", "3", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=flowgraph_env())
    return proc, read_lines(proc.stdout)


def _stop(proc: subprocess.Popen, lines: list[str]) -> str:
    """SIGTERM, as timeout and supervisors send it; returns all the program printed."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    poll(lambda: any("tail compute" in line for line in lines), 10, "the whole summary")
    return "".join(lines)


def test_a_receiver_that_hears_nothing_says_so_and_summarises_on_sigterm():
    proc, lines = _start_rx(_address(), "--n-images", "128")
    try:
        poll(lambda: any("RX hint" in line for line in lines), 60, "the hint")
        poll(lambda: sum("RX status" in line for line in lines) >= 2, 30, "two status lines")
    finally:
        out = _stop(proc, lines)
    hint = next(line for line in lines if "RX hint" in line)
    assert "no samples have arrived at all" in hint and "ZMQ address" in hint
    status = next(line for line in lines if "RX status" in line)
    assert "0.0 M samples in;" in status and "0 sync words" in status, status
    assert proc.returncode == 0, out[-2000:]
    summary = out[out.index("phydnn RX summary"):]
    assert "stopped early" in summary and "images classified : 0 of 128" in summary
    assert "never seen        : 128 images" in summary
    assert "n/a (no image classified)" in summary


def test_a_transmitter_at_another_samples_per_symbol_gets_a_hint_naming_it():
    """TX at 4 samples per symbol, RX at 2: samples arrive, no sync word; the hint says how
    many samples came and names the samples-per-symbol setting; SIGTERM prints the summary,
    the images that never arrived apart."""
    from phydnn.programs import compile_flowgraph, flowgraph_env

    address = _address()
    proc, lines = _start_rx(address, "--n-images", "640")
    tx = compile_flowgraph("phydnn_tx")
    try:
        poll(lambda: any("RX status" in line for line in lines), 60, "the RX running")
        sent = subprocess.run([sys.executable, str(tx), "--model", MODEL, "--address",
                               address, "--n-images", "640", "--sps", "4"],
                              capture_output=True, text=True, env=flowgraph_env(),
                              timeout=120)
        assert sent.returncode == 0, sent.stdout[-2000:]
        poll(lambda: any("RX hint" in line and "M samples arrived" in line for line in lines),
             60, "a hint after samples arrived")
    finally:
        out = _stop(proc, lines)
    hint = next(line for line in lines if "RX hint" in line and "M samples arrived" in line)
    assert "samples-per-symbol" in hint and "sps 2" in hint and "no header decoded" in hint
    summary = out[out.index("phydnn RX summary"):]
    assert "images classified : 0 of 640" in summary and "never seen        : 640" in summary
    assert "heard             : " in summary, summary
    heard = int(summary.split("heard             : ")[1].split(" samples")[0])
    assert heard > 2_000_000, summary     # 640 images at 4 samples per symbol: 2.8 M


@pytest.fixture(scope="module")
def qapp():
    from PyQt5 import QtWidgets

    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["qa"])


def _predictions(batch_id: int, labels, truth, partial, snr_db=12.0, missing=0, expected=7):
    from phydnn.blocks.pdu import make_pdu

    meta = {"batch_id": batch_id, "n_images": len(labels),
            "labels": np.asarray(labels, np.int32), "true_labels": np.asarray(truth, np.int32),
            "partial": np.asarray(partial, np.int32), "snr_db": snr_db,
            "segments_missing": missing, "segments_expected": expected}
    return make_pdu(meta, np.zeros(len(labels) * 10, np.float32))


def test_image_grid_shows_the_images_sent_with_predicted_and_true_class(qapp):
    from phydnn.blocks import image_grid
    from phydnn.data import load_dataset

    grid = image_grid("digits", "test", batch_size=4, rows=1, cols=4)
    truth = load_dataset("digits", "test").labels.numpy()[4:8]
    wrong = (truth[3] + 1) % 10
    grid._handle(_predictions(1, [*truth[:3], wrong], truth, [0, 0, 1, 0]))
    grid._refresh()
    captions = [c.text() for _, c in grid.cells]
    # newest first: the wrong one (image 7) leads, with its true class under it
    assert f">{wrong}<" in captions[0] and f"true: {truth[3]}" in captions[0]
    assert all("true:" not in c for c in captions[1:]) and f">{truth[0]}<" in captions[3]
    framed = grid.cells[1][0].pixmap().toImage().pixelColor(0, 0).name()   # image 6: partial
    assert framed == "#e67e22" and grid.cells[0][0].pixmap().toImage().pixelColor(
        0, 0).name() == "#ffffff"


def test_image_grid_without_a_dataset_shows_the_predicted_class_ids(qapp):
    from phydnn.blocks import image_grid

    grid = image_grid("", batch_size=2, rows=1, cols=2)
    grid._handle(_predictions(0, [3, 7], [-1, -1], [0, 0]))
    grid._refresh()
    assert [">7<" in grid.cells[0][1].text(), ">3<" in grid.cells[1][1].text()] == [True, True]
    assert all("true:" not in c.text() for _, c in grid.cells)


def test_link_monitor_counts_accuracy_delivery_refusals_and_shows_the_summary(qapp):
    from phydnn.blocks import link_monitor
    from phydnn.blocks.pdu import make_pdu

    mon = link_monitor()
    mon._handle_predictions(_predictions(0, [1, 2, 3, 4], [1, 2, 3, 0], [0] * 4))
    mon._handle_predictions(_predictions(1, [5, 5, 5, 5], [5, 5, 0, 0], [1] * 4, 9.5, 2, 8))
    status = {"expected": 16, "rejected": {"crc": 3, "wrong_model": 1}, "samples": 10 ** 6}
    mon._handle_status(make_pdu(status, np.zeros(0, np.float32)))
    mon._refresh()
    text = {k: v.text() for k, v in mon.numbers.items()}
    assert text["Images"] == "8 / 16" and text["Running accuracy"] == "62.50 %"
    assert text["SNR (last batch)"] == "9.5 dB" and text["Refused"] == "4"
    assert text["Segment delivery"] == f"{100 * 13 / 15:.1f} %"
    assert mon.delivery.ys == [100.0, 75.0] and mon.accuracy.xs == [4, 8]
    rows = {mon.refusals.item(r, 0).text(): mon.refusals.item(r, 1).text()
            for r in range(mon.refusals.rowCount())}
    assert rows == {"crc": "3", "wrong_model": "1"}
    mon._handle_status(make_pdu({**status, "summary": "phydnn RX summary\n  x"},
                                np.zeros(0, np.float32)))
    mon._refresh()
    assert mon.text.toPlainText().startswith("phydnn RX summary")


def test_after_the_idle_timeout_a_batch_never_heard_is_counted_apart_not_scored(capsys):
    """Batch 0 of 2 arrives (here: every position erased), batch 1 never does; after the idle
    timeout the summary scores batch 0 alone, counts batch 1's images as never seen, and
    gives the accuracy of all sent with those counted as wrong; batch 1's segment counts as
    lost (a batch of one segment that never arrived is a segment not delivered)."""
    from phydnn.blocks import tail_rx
    from phydnn.link.segment import ReceivedBatch
    from phydnn.programs import parse_summary

    rx = tail_rx(MODEL, "soft", 128, "fashion-mnist", batch_size=64, idle_timeout_s=1)
    total = 64 * rx.tail.positions
    with rx.lock:
        rx._classify(ReceivedBatch(0, 64, np.full(total, np.nan, np.complex64),
                                   np.full(total, np.nan, np.float32), 1, [0]))
        rx.t_first = rx.t_last = 1.0                    # heard long ago
        rx._check_idle(now=10.0)
    got = parse_summary(capsys.readouterr().out)
    assert rx.done.is_set() and got["images"] == 64 and got["never_seen"] == 64
    assert got["accuracy"] == pytest.approx(100 * rx.correct / 64, abs=0.01)
    assert got["accuracy_all"] == pytest.approx(100 * rx.correct / 128, abs=0.01)
    assert got["segments_lost"] == 2 and rx.status_counts()["segments_lost"] == 2

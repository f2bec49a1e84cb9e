"""Qt GUI blocks that show what the receiver hears and understands.

Two GNU Radio Qt GUI blocks in the style of gr-qtgui's Python widgets (a block that is also a
Qt widget, placed by GRC's GUI hint), fed by the Tail RX's message ports:

* :class:`image_grid` (``predictions`` in): the last images received, each with the class the
  receiver predicted (green when right, red when wrong, the true class under a wrong one, an
  orange frame when the image had erased positions). The receiver never sees pixels: the
  pictures come from the same test split that the transmitter's source sends, in the same
  order, as the Tail RX's labels do.
* :class:`link_monitor` (``predictions`` and ``status`` in): images, running accuracy, SNR,
  segment delivery and refusals by reason as numbers, the running accuracy, the SNR and the
  delivery per batch as curves, the receiver's status line, and its summary when the run
  ends (the window stays open on it).

Both are cheap: message handlers only store what arrived; a Qt timer repaints at most every
``update_ms`` on the GUI thread, and the curves are drawn with QPainter from at most
:data:`HISTORY` points, so an open window costs the receiver nothing it would notice.
"""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np
import pmt
from gnuradio import gr
from PyQt5 import QtCore, QtGui, QtWidgets

from phydnn.blocks.pdu import split_pdu

__all__ = ["image_grid", "link_monitor"]

HISTORY = 2000          # points kept per curve (batches)
GREEN, RED, ORANGE = "#1b7f3b", "#c0392b", "#e67e22"


class Trace(QtWidgets.QWidget):
    """A small line chart drawn with QPainter: one curve, a fixed y range, grid and labels."""

    def __init__(self, title: str, x_label: str, y_range: tuple[float, float] | None,
                 color: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.x_label, self.y_range = title, x_label, y_range
        self.color = QtGui.QColor(color)
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.setMinimumSize(260, 150)

    def set_points(self, xs: list[float], ys: list[float]) -> None:
        self.xs, self.ys = xs, ys
        self.update()

    def _range(self) -> tuple[float, float]:
        if self.y_range is not None:
            return self.y_range
        finite = [y for y in self.ys if math.isfinite(y)]
        if not finite:
            return 0.0, 1.0
        lo, hi = math.floor(min(finite)) - 1, math.ceil(max(finite)) + 1
        return lo, lo + 4 * math.ceil((hi - lo) / 4)      # whole numbers at the 5 grid lines

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt's name
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        w, h = self.width(), self.height()
        left, right, top, bottom = 44, 10, 22, 26
        plot = QtCore.QRectF(left, top, w - left - right, h - top - bottom)
        p.fillRect(self.rect(), QtGui.QColor("white"))
        p.setPen(QtGui.QColor("black"))
        p.drawText(QtCore.QRectF(0, 2, w, top - 4), QtCore.Qt.AlignCenter, self.title)
        p.drawText(QtCore.QRectF(left, h - bottom + 10, plot.width(), bottom - 10),
                   QtCore.Qt.AlignCenter, self.x_label)
        lo, hi = self._range()
        grid = QtGui.QPen(QtGui.QColor("#dddddd"))
        for k in range(5):
            y = lo + (hi - lo) * k / 4
            py = plot.bottom() - plot.height() * k / 4
            p.setPen(grid)
            p.drawLine(QtCore.QPointF(plot.left(), py), QtCore.QPointF(plot.right(), py))
            p.setPen(QtGui.QColor("black"))
            p.drawText(QtCore.QRectF(0, py - 8, left - 4, 16),
                       QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter, f"{y:g}")
        p.drawRect(plot)
        points = [(x, y) for x, y in zip(self.xs, self.ys, strict=True) if math.isfinite(y)]
        if not points:
            p.drawText(plot, QtCore.Qt.AlignCenter, "waiting for the first batch")
            return
        x0, x1 = points[0][0], max(points[-1][0], points[0][0] + 1)
        p.drawText(QtCore.QRectF(left - 20, h - bottom, 40, 14), QtCore.Qt.AlignCenter,
                   f"{x0:g}")
        p.drawText(QtCore.QRectF(plot.right() - 40, h - bottom, 50, 14),
                   QtCore.Qt.AlignCenter, f"{x1:g}")
        path = QtGui.QPainterPath()
        for i, (x, y) in enumerate(points):
            px = plot.left() + plot.width() * (x - x0) / (x1 - x0)
            py = plot.bottom() - plot.height() * (min(max(y, lo), hi) - lo) / (hi - lo)
            path.moveTo(px, py) if i == 0 else path.lineTo(px, py)
        p.setPen(QtGui.QPen(self.color, 2))
        p.drawPath(path)


def _big_label(parent: QtWidgets.QWidget) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel("-", parent)
    font = label.font()
    font.setPointSize(font.pointSize() + 5)
    font.setBold(True)
    label.setFont(font)
    return label


class image_grid(gr.basic_block, QtWidgets.QFrame):  # noqa: N801
    """The last ``rows * cols`` images received with their predicted (and true) class."""

    def __init__(self, dataset: str = "fashion-mnist", split: str = "test",
                 batch_size: int = 64, rows: int = 3, cols: int = 8, scale: int = 3,
                 update_ms: int = 500, parent: QtWidgets.QWidget | None = None) -> None:
        """``dataset`` empty: no pictures (a grey square each), predicted class ids only."""
        gr.basic_block.__init__(self, name="phydnn_image_grid", in_sig=None, out_sig=None)
        QtWidgets.QFrame.__init__(self, parent)
        from phydnn.data import load_dataset

        if dataset:
            data = load_dataset(dataset, split)
            self.images = data.images.numpy()             # (N, C, H, W) uint8
            self.classes = list(data.classes)
        else:                                             # images and labels unknown here
            self.images, self.classes = np.full((1, 1, 28, 28), 128, np.uint8), []
        self.batch_size, self.scale = int(batch_size), int(scale)
        self.shown: deque[tuple[int, int, int, bool]] = deque(maxlen=int(rows) * int(cols))
        self.lock = threading.Lock()
        self._dirty = False
        self.message_port_register_in(pmt.intern("predictions"))
        self.set_msg_handler(pmt.intern("predictions"), self._handle)
        self._build(int(rows), int(cols))
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._refresh)
        self.timer.start(int(update_ms))

    def _build(self, rows: int, cols: int) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        title = QtWidgets.QLabel(
            "<b>Last images received</b>: the class the receiver predicted (<span style="
            f"'color:{GREEN}'>right</span> / <span style='color:{RED}'>wrong</span>, the true "
            f"class under a wrong one; <span style='color:{ORANGE}'>orange frame</span>: "
            "erased positions)", self)
        title.setWordWrap(True)
        outer.addWidget(title)
        grid = QtWidgets.QGridLayout()
        outer.addLayout(grid)
        self.cells: list[tuple[QtWidgets.QLabel, QtWidgets.QLabel]] = []
        _, _, height, width = self.images.shape
        for k in range(rows * cols):
            picture = QtWidgets.QLabel(self)
            picture.setFixedSize(width * self.scale + 6, height * self.scale + 6)
            picture.setAlignment(QtCore.Qt.AlignCenter)
            caption = QtWidgets.QLabel("", self)
            caption.setAlignment(QtCore.Qt.AlignCenter)
            caption.setWordWrap(True)
            cell = QtWidgets.QVBoxLayout()
            cell.setSpacing(1)
            cell.addWidget(picture, 0, QtCore.Qt.AlignCenter)
            cell.addWidget(caption)
            grid.addLayout(cell, k // cols, k % cols)
            self.cells.append((picture, caption))
        outer.addStretch(1)

    def _handle(self, msg: pmt.pmt_t) -> None:
        meta, _ = split_pdu(msg)
        labels = np.asarray(meta["labels"]).reshape(-1)
        truth = np.asarray(meta.get("true_labels", np.full(len(labels), -1))).reshape(-1)
        partial = np.asarray(meta.get("partial", np.zeros(len(labels)))).reshape(-1)
        start = int(meta["batch_id"]) * self.batch_size
        with self.lock:
            for i in range(len(labels)):
                index = (start + i) % len(self.images)
                self.shown.append((index, int(labels[i]), int(truth[i]), bool(partial[i])))
            self._dirty = True

    def _pixmap(self, index: int, frame: str) -> QtGui.QPixmap:
        img = np.ascontiguousarray(self.images[index].transpose(1, 2, 0))
        h, w, c = img.shape
        fmt = QtGui.QImage.Format_Grayscale8 if c == 1 else QtGui.QImage.Format_RGB888
        qimg = QtGui.QImage(img.data, w, h, w * c, fmt).copy()
        pix = QtGui.QPixmap(w * self.scale + 6, h * self.scale + 6)
        pix.fill(QtGui.QColor(frame))
        p = QtGui.QPainter(pix)
        p.drawImage(QtCore.QRect(3, 3, w * self.scale, h * self.scale), qimg)
        p.end()
        return pix

    def _refresh(self) -> None:
        with self.lock:
            if not self._dirty:
                return
            shown, self._dirty = list(self.shown), False
        for (picture, caption), item in zip(self.cells, reversed(shown), strict=False):
            index, pred, true, partial = item
            right = true < 0 or pred == true
            picture.setPixmap(self._pixmap(index, ORANGE if partial else "white"))
            text = f"<span style='color:{GREEN if right else RED}'><b>{self._name(pred)}" \
                   f"</b></span>"
            if not right:
                text += f"<br><small>true: {self._name(true)}</small>"
            caption.setText(text)

    def _name(self, k: int) -> str:
        return self.classes[k] if 0 <= k < len(self.classes) else str(k)


class link_monitor(gr.basic_block, QtWidgets.QFrame):  # noqa: N801
    """Numbers and curves of the link and the task, refusals by reason, the summary."""

    def __init__(self, update_ms: int = 500,
                 parent: QtWidgets.QWidget | None = None) -> None:
        gr.basic_block.__init__(self, name="phydnn_link_monitor", in_sig=None, out_sig=None)
        QtWidgets.QFrame.__init__(self, parent)
        self.lock = threading.Lock()
        self.batches: deque[tuple[int, float, float, float]] = deque(maxlen=HISTORY)
        self.images = self.correct = self.labelled = 0
        self.segments_ok = self.segments_missing = 0
        self.status: dict = {}
        self._dirty = False
        for port, handler in (("predictions", self._handle_predictions),
                              ("status", self._handle_status)):
            self.message_port_register_in(pmt.intern(port))
            self.set_msg_handler(pmt.intern(port), handler)
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._refresh)
        self.timer.start(int(update_ms))

    def _build(self) -> None:
        layout = QtWidgets.QGridLayout(self)
        names = ("Images", "Running accuracy", "SNR (last batch)", "Segment delivery",
                 "Refused")
        self.numbers: dict[str, QtWidgets.QLabel] = {}
        for col, name in enumerate(names):
            box = QtWidgets.QVBoxLayout()
            box.addWidget(QtWidgets.QLabel(name, self))
            self.numbers[name] = _big_label(self)
            box.addWidget(self.numbers[name])
            layout.addLayout(box, 0, col)
        self.accuracy = Trace("Running accuracy (%)", "images", (0.0, 100.0), "#1f77b4", self)
        self.snr = Trace("SNR per batch (dB Es/N0, estimated)", "batch", None, "#9467bd", self)
        self.delivery = Trace("Segment delivery per batch (%)", "batch", (0.0, 100.0),
                              "#2ca02c", self)
        traces = QtWidgets.QHBoxLayout()
        for trace in (self.accuracy, self.snr, self.delivery):
            traces.addWidget(trace)
        layout.addLayout(traces, 1, 0, 1, len(names))
        layout.setRowStretch(1, 1)
        self.refusals = QtWidgets.QTableWidget(0, 2, self)
        self.refusals.setHorizontalHeaderLabels(["refused: reason", "segments"])
        self.refusals.horizontalHeader().setSectionResizeMode(
            0, QtWidgets.QHeaderView.Stretch)
        self.refusals.verticalHeader().setVisible(False)
        self.refusals.setMaximumHeight(200)
        layout.addWidget(self.refusals, 2, 0, 1, 2)
        self.text = QtWidgets.QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        self.text.setPlaceholderText("receiver status: waiting for the first status line")
        self.text.setLineWrapMode(QtWidgets.QPlainTextEdit.NoWrap)
        self.text.setMinimumHeight(200)
        self.text.setMaximumHeight(200)
        layout.addWidget(self.text, 2, 2, 1, len(names) - 2)

    def _handle_predictions(self, msg: pmt.pmt_t) -> None:
        meta, _ = split_pdu(msg)
        labels = np.asarray(meta["labels"]).reshape(-1)
        with self.lock:
            self.images += len(labels)
            if "true_labels" in meta:
                self.correct += int((np.asarray(meta["true_labels"]) == labels).sum())
                self.labelled += len(labels)
            expected = int(meta.get("segments_expected", 0))
            missing = int(meta.get("segments_missing", 0))
            self.segments_ok += max(expected - missing, 0)
            self.segments_missing += missing
            delivery = 100.0 * (1 - missing / expected) if expected else math.nan
            acc = 100.0 * self.correct / self.labelled if self.labelled else math.nan
            self.batches.append((self.images, acc, float(meta.get("snr_db", math.nan)),
                                 delivery))
            self._dirty = True

    def _handle_status(self, msg: pmt.pmt_t) -> None:
        meta, _ = split_pdu(msg)
        with self.lock:
            self.status = meta
            self._dirty = True

    def _refresh(self) -> None:
        with self.lock:
            if not self._dirty:
                return
            self._dirty = False
            batches, status = list(self.batches), dict(self.status)
            images, labelled, correct = self.images, self.labelled, self.correct
            delivered = self.segments_ok, self.segments_missing
        expected = int(status.get("expected", 0))
        self.numbers["Images"].setText(f"{images}" + (f" / {expected}" if expected else ""))
        self.numbers["Running accuracy"].setText(
            f"{100 * correct / labelled:.2f} %" if labelled else "n/a")
        snr = batches[-1][2] if batches else math.nan
        self.numbers["SNR (last batch)"].setText(f"{snr:.1f} dB" if math.isfinite(snr) else "-")
        ok, missing = delivered
        self.numbers["Segment delivery"].setText(
            f"{100 * ok / (ok + missing):.1f} %" if ok + missing else "-")
        rejected = status.get("rejected") or {}
        self.numbers["Refused"].setText(f"{sum(rejected.values())}")
        self.refusals.setRowCount(len(rejected))
        for row, (reason, count) in enumerate(sorted(rejected.items())):
            self.refusals.setItem(row, 0, QtWidgets.QTableWidgetItem(str(reason)))
            self.refusals.setItem(row, 1, QtWidgets.QTableWidgetItem(str(count)))
        batch = list(range(len(batches)))
        self.accuracy.set_points([b[0] for b in batches], [b[1] for b in batches])
        self.snr.set_points(batch, [b[2] for b in batches])
        self.delivery.set_points(batch, [b[3] for b in batches])
        self._show_text(status)

    def _show_text(self, status: dict) -> None:
        if "summary" in status:
            self.text.setPlainText(status["summary"] + "\n\n(the run has ended; close the "
                                                       "window to quit)")
        elif status:
            self.text.setPlainText(
                f"{status.get('elapsed_s', 0):.0f} s: {status.get('samples', 0) / 1e6:.1f} M "
                f"samples in ({status.get('power_db', math.nan):.1f} dBFS), "
                f"{status.get('sync_words', 0)} sync words, {status.get('segments_ok', 0)} "
                f"segments ok, {status.get('segments_lost', 0)} lost")

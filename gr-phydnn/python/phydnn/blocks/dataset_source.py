"""Dataset source: images of a dataset -> image-batch PDUs, for demos, tests and the TX head.

Message-only block (no stream ports), port ``batches`` out. Each PDU carries, in its metadata:
``batch_id``, ``n_images``, ``last`` (True on the final batch), ``image_shape`` (C, H, W),
``labels`` (s32 vector), ``dataset`` and ``split``; its data is a u8 vector of the raw
pixels, N*C*H*W in row-major order. The data comes from the core (``phydnn.data``); this
block only moves it into GNU Radio.
"""

from __future__ import annotations

import threading

import numpy as np
import pmt
from gnuradio import gr

from phydnn.blocks.pdu import make_pdu
from phydnn.data import image_batches, load_dataset
from phydnn.data.loader import check_image_batches, num_batches

__all__ = ["dataset_source"]


class dataset_source(gr.basic_block):  # noqa: N801 - GNU Radio block naming
    """Emit ``n_images`` images of ``dataset``/``split`` as PDUs of ``batch_size`` images.

    ``interval_ms`` paces the batches (0: as fast as downstream takes them). More images
    than the split holds repeat the split; batches are cut as they are sent, so a long run
    holds one batch at a time.
    """

    def __init__(self, dataset: str = "fashion-mnist", split: str = "test",
                 batch_size: int = 64, n_images: int = 640, interval_ms: float = 0.0,
                 data_root: str = "") -> None:
        gr.basic_block.__init__(self, name="phydnn_dataset_source", in_sig=None, out_sig=None)
        self.data = load_dataset(dataset, split, data_root or None)
        check_image_batches(batch_size, n_images)
        self.batch_size, self.n_images = int(batch_size), int(n_images)
        self.n_batches = num_batches(self.n_images or len(self.data), self.batch_size)
        self.interval_s = max(float(interval_ms), 0.0) / 1000.0
        self.port = pmt.intern("batches")
        self.message_port_register_out(self.port)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def _pdu(self, batch_id: int, images, labels, last: bool) -> pmt.pmt_t:
        meta = {"batch_id": batch_id, "n_images": int(images.shape[0]), "last": last,
                "image_shape": tuple(int(v) for v in images.shape[1:]),
                "labels": labels.numpy().astype(np.int32),
                "dataset": self.data.name, "split": self.data.split}
        return make_pdu(meta, images.numpy())

    def _run(self) -> None:
        for batch_id, images, labels in image_batches(self.data, self.batch_size,
                                                      self.n_images):
            if self._stop.is_set():
                return
            last = batch_id == self.n_batches - 1
            self.message_port_pub(self.port, self._pdu(batch_id, images, labels, last))
            self.sent += 1
            if self.interval_s:
                self._stop.wait(self.interval_s)

    def start(self) -> bool:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="phydnn_dataset_source",
                                        daemon=True)
        self._thread.start()
        return super().start()

    def stop(self) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return super().stop()

"""Head TX: image-batch PDUs in, PSK point-index PDUs out (the mobile device's half).

Message port ``images`` takes the PDUs of :class:`~phydnn.blocks.dataset_source` (or any
source with the same layout: u8 pixels N*C*H*W, metadata batch_id, n_images, image_shape);
port ``symbols`` emits one PDU per batch: u8 point indices N*H'*W' with the metadata of
DESIGN.md (batch_id, n_images, feature_shape, M, fingerprint, bits_per_symbol) plus the
constellation points, and ``last`` passed through. Each batch's arrival and compute time
go to :data:`phydnn.link.timeline.TIMELINE` for the latency report. The model work is
:class:`phydnn.link.TxHead`; this block only moves data.
"""

from __future__ import annotations

import time

import numpy as np
import pmt
from gnuradio import gr

from phydnn.blocks.pdu import make_pdu, split_pdu
from phydnn.link import TxHead
from phydnn.link.timeline import TIMELINE

__all__ = ["head_tx"]


class head_tx(gr.basic_block):  # noqa: N801 - GNU Radio block naming
    """Run head + embedding layer + constellation map of ``model`` on image batches."""

    def __init__(self, model: str = "models/fmnist_resnet20_phydnn_kd14ctx_m4",
                 threads: int = 0) -> None:
        gr.basic_block.__init__(self, name="phydnn_head_tx", in_sig=None, out_sig=None)
        self.head = TxHead(model, threads)
        self.message_port_register_in(pmt.intern("images"))
        self.message_port_register_out(pmt.intern("symbols"))
        self.set_msg_handler(pmt.intern("images"), self._handle)
        self.batches = self.images = 0
        self.compute_s = 0.0

    def _handle(self, msg: pmt.pmt_t) -> None:
        meta, data = split_pdu(msg)
        shape = tuple(int(v) for v in meta.get("image_shape", ()))
        n = int(meta.get("n_images", 0))
        batch_id = int(meta.get("batch_id", self.batches))
        TIMELINE.mark(batch_id, "head_in", time.time())
        try:
            images = np.asarray(data, dtype=np.uint8).reshape((n, *shape))
            t0 = time.perf_counter()
            points = self.head.encode(images)
            seconds = time.perf_counter() - t0
        except (ValueError, TypeError) as err:
            gr.log.error(f"phydnn head_tx: batch {meta.get('batch_id')} refused: {err}")
            return
        self.compute_s += seconds
        TIMELINE.mark(batch_id, "head_s", seconds)
        out = {"batch_id": batch_id, "n_images": n,
               "feature_shape": tuple(self.head.model.feature_shape), "M": self.head.order,
               "bits_per_symbol": self.head.bits_per_symbol,
               "fingerprint": self.head.fingerprint,
               "constellation": self.head.constellation, "last": bool(meta.get("last", False))}
        self.batches += 1
        self.images += n
        self.message_port_pub(pmt.intern("symbols"), make_pdu(out, points.reshape(-1)))

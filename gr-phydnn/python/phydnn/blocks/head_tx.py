"""Head TX: image-batch PDUs in, payload PDUs out (the mobile device's half, any codec).

Message port ``images`` takes the PDUs of :class:`~phydnn.blocks.dataset_source` (or any
source with the same layout: u8 pixels N*C*H*W, metadata batch_id, n_images, image_shape);
port ``symbols`` emits one PDU per batch: the codec's values N*L (u8 point indices or bits,
f32 analog values) with the metadata of DESIGN.md (batch_id, n_images, M, fingerprint,
bits_per_symbol) and the payload's header fields (codec_id, kind, pilot_spacing,
codec_field, values_per_image), and ``last`` passed through. Port ``feedback`` takes the
receiver's channel reports (:class:`~phydnn.blocks.tail_rx`'s ``feedback``: metadata
``snr_db``); with ``feedback`` on, each report is told to the codec (its
:meth:`~phydnn.codecs.Transmitter.adapt`), so that the next batch follows the channel as the
receiver measured it (VL-VFE's SNR feedback, paper 000 App. C). GNU Radio hands a block
the messages of one port until that queue is empty: a head that falls behind its source
works through its queued batches before it hears a report (seen here with 64-image batches
every 20 ms while two evaluations shared the 2 cores: no report was taken in 157 batches).
``channel_snr_db`` tells the codec the channel once, at the start (a genie, or an
operator's setting); ``budget`` (MACs per image, 0: the bundle's own) is the device's compute
budget of a multi-exit codec (paper 002). Each batch's arrival and compute time go to
:data:`phydnn.link.timeline.TIMELINE` for the latency report. The codec work is
:class:`phydnn.link.TxHead` (the bundle's transmitter); this block only moves data.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pmt
from gnuradio import gr

from phydnn.blocks.pdu import make_pdu, split_pdu
from phydnn.link import TxHead
from phydnn.link.timeline import TIMELINE

__all__ = ["head_tx"]


class head_tx(gr.basic_block):  # noqa: N801 - GNU Radio block naming
    """Run the transmitter side of the codec bundle ``model`` on image batches."""

    def __init__(self, model: str = "models/fmnist_resnet20_phydnn_kd14ctx_m4",
                 threads: int = 0, channel_snr_db: float = math.nan,
                 feedback: bool = False, budget: float = 0.0, backend: str = "eager") -> None:
        gr.basic_block.__init__(self, name="phydnn_head_tx", in_sig=None, out_sig=None)
        self.head = TxHead(model, threads, backend)
        self.set_channel_snr_db(channel_snr_db)
        if budget:
            self.head.side.set_budget(float(budget))
        self.feedback = bool(feedback)
        self.message_port_register_in(pmt.intern("images"))
        self.message_port_register_in(pmt.intern("feedback"))
        self.message_port_register_out(pmt.intern("symbols"))
        self.set_msg_handler(pmt.intern("images"), self._handle)
        self.set_msg_handler(pmt.intern("feedback"), self._handle_feedback)
        self.reports = 0
        self.told_snr_db = float(channel_snr_db)
        self.batches = self.images = 0
        self.compute_s = 0.0

    def set_channel_snr_db(self, snr_db: float) -> None:
        """The channel Es/N0 the device is told (NaN: not told); codecs whose payload
        follows the channel (the separation baseline's code rate) adapt to it."""
        if math.isfinite(float(snr_db)):
            self.head.side.adapt(float(snr_db))

    def _handle_feedback(self, msg: pmt.pmt_t) -> None:
        if not self.feedback:
            return
        try:
            snr = float(split_pdu(msg)[0].get("snr_db", math.nan))
        except (ValueError, TypeError):
            snr = math.nan
        if math.isfinite(snr):
            self.reports += 1
            self.told_snr_db = snr
            self.head.side.adapt(snr)

    def _handle(self, msg: pmt.pmt_t) -> None:
        meta, data = split_pdu(msg)
        shape = tuple(int(v) for v in meta.get("image_shape", ()))
        n = int(meta.get("n_images", 0))
        batch_id = int(meta.get("batch_id", self.batches))
        TIMELINE.mark(batch_id, "head_in", time.time())
        try:
            images = np.asarray(data, dtype=np.uint8).reshape((n, *shape))
            t0 = time.perf_counter()
            payload = self.head.encode_payload(images)
            seconds = time.perf_counter() - t0
        except (ValueError, TypeError) as err:
            gr.log.error(f"phydnn head_tx: batch {meta.get('batch_id')} refused: {err}")
            return
        self.compute_s += seconds
        TIMELINE.mark(batch_id, "head_s", seconds)
        values = payload.values
        out = {"batch_id": batch_id, "n_images": n, "M": self.head.order,
               "bits_per_symbol": self.head.bits_per_symbol,
               "fingerprint": self.head.fingerprint, **self.head.header_fields(),
               "codec_field": int(payload.codec_field), "values_per_image": values.shape[1],
               "last": bool(meta.get("last", False))}
        self.batches += 1
        self.images += n
        dtype = np.float32 if values.dtype.kind == "f" else np.uint8
        self.message_port_pub(pmt.intern("symbols"),
                              make_pdu(out, values.reshape(-1).astype(dtype)))

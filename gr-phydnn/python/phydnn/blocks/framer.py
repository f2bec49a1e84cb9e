"""Framer: a batch's payload PDU -> pulse-shaped bursts, one per segment.

Hier block, message port ``symbols`` in (from :class:`~phydnn.blocks.head_tx`: the values of
any payload kind and the header fields that describe them), complex samples out at ``sps``
samples per symbol. Inside:

    frame_builder (values -> data symbols by payload kind, segments, pilots, preamble, PHY
                   header: phydnn.link; a message block)
      -> frame_stream (the frames as a tagged symbol stream, one packet per segment)
      -> interp_fir_filter_ccf with RRC taps (GNU Radio)
      -> burst_tagger (tx_sob / tx_eob around every burst, for UHD)

The frames cross from the message domain to the stream through a bounded queue (no PMT copy
of the samples), and each frame queued posts a small ``wake`` message to the stream block:
GNU Radio wakes a waiting block for a message, and without one a source that found nothing
to send sleeps until the scheduler's 250 ms poll. With pdu_to_tagged_stream in its place,
a quarter of the batches lost ~230 ms that way (measured). The queue's bound is the
back-pressure that keeps the frames waiting for the air few.

The RRC pulse has unit energy, so the symbol energy Es is 1 and the loopback channel
calibrates Es/N0 from the noise per sample alone (DESIGN.md "Definitions"). Each frame ends
with zero symbols that empty the filter inside the burst; after the batch flagged ``last``
a longer tail of zeros lets a receiver's filters and correlator flush. The time spent
building a batch's symbols (the symbol mapping) and its symbols on air go to
:data:`phydnn.link.timeline.TIMELINE`.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import pmt
from gnuradio import filter as grfilter
from gnuradio import gr

from phydnn.blocks.greedy import greedy_block
from phydnn.blocks.pdu import split_pdu
from phydnn.codecs.base import PayloadSpec
from phydnn.link.segment import (
    DEFAULT_MAX_PAYLOAD,
    FRAME_PAD,
    LEAD_RAMP,
    frame_payload,
    segment_payload,
)
from phydnn.link.timeline import TIMELINE
from phydnn.report import payload_line

__all__ = ["burst_tagger", "frame_builder", "frame_stream", "framer", "rrc_taps"]

FLUSH_SYMBOLS = 2048
FIRST_LEAD = 8192    # ramp symbols before the first frame of a run: the receiver's timing loop
                     # starts cold (on ITU indoor B at 12 dB, with 512 it lost the first batch)
BATCH_TAIL = 1024    # zeros after a batch's last segment: the receiver's filters and sync-word
                     # correlator release that segment at once instead of when the next burst
                     # arrives (128 still left 2 batches in 20 waiting; 0.1 ms of air)
MAX_BACKLOG = 256    # frames queued ahead of the air (10 batches of 64 images)
POLL_S = 0.05        # how often a full queue is looked at again


def rrc_taps(sps: int, rolloff: float, span: int = 11) -> np.ndarray:
    """GNU Radio's root-raised-cosine taps over ``span`` symbols, scaled to unit energy."""
    taps = np.asarray(grfilter.firdes.root_raised_cosine(1.0, sps, 1.0, rolloff, span * sps + 1))
    return (taps / np.sqrt(np.sum(taps ** 2))).astype(np.float32)


def batch_segments(meta: dict, values: np.ndarray, max_payload: int) -> list:
    """A payload PDU's (metadata, values) -> its segments (phydnn.link.segment_payload).
    Metadata without payload fields is a psk payload of ``bits_per_symbol`` (as before
    header v2)."""
    spec = PayloadSpec(str(meta.get("kind", "psk")), int(meta["bits_per_symbol"]),
                       int(meta.get("pilot_spacing", 0))).check()
    return segment_payload(spec, np.asarray(values).reshape(int(meta["n_images"]), -1),
                           int(meta["batch_id"]), str(meta["fingerprint"]), max_payload,
                           int(meta.get("codec_id", 1)), int(meta.get("codec_field", 0)))


class frame_builder(gr.basic_block):  # noqa: N801
    """Payload PDU of a batch -> its frames (preamble + header + payload + zero pad), one
    per segment, into ``frames`` (a bounded queue for :class:`frame_stream`). Each frame
    carries batch_id, seg_index, seg_count and last."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD, pad: int = FRAME_PAD) -> None:
        gr.basic_block.__init__(self, name="phydnn_frame_builder", in_sig=None, out_sig=None)
        self.max_payload, self.pad = int(max_payload), int(pad)
        self.frames: queue.Queue = queue.Queue(MAX_BACKLOG)
        self.message_port_register_in(pmt.intern("symbols"))
        self.message_port_register_out(pmt.intern("wake"))
        self.set_msg_handler(pmt.intern("symbols"), self._handle)
        self.segments = self.payload_symbols = self.frame_symbols = 0
        self.payload_bits = self.data_symbols = 0
        self._stopping = False

    def _put(self, item: tuple[dict, np.ndarray]) -> float:
        """Queue one frame, waiting while MAX_BACKLOG frames wait for the air; returns the
        seconds waited (not part of the symbol-mapping time)."""
        t0 = time.perf_counter()
        while not self._stopping:
            try:
                self.frames.put(item, timeout=POLL_S)
                break
            except queue.Full:
                continue
        self.message_port_pub(pmt.intern("wake"), pmt.PMT_T)
        return time.perf_counter() - t0

    def start(self) -> bool:
        self._stopping = False
        return super().start()

    def stop(self) -> bool:
        self._stopping = True
        return super().stop()

    def _handle(self, msg: pmt.pmt_t) -> None:
        t0 = time.perf_counter()
        meta, values = split_pdu(msg)
        batch_id = int(meta["batch_id"])
        try:
            segs = batch_segments(meta, values, self.max_payload)
        except (KeyError, ValueError) as err:
            gr.log.error(f"phydnn framer: batch {batch_id} refused: {err}")
            return
        for header, part in segs:
            last = bool(meta.get("last")) and header.seg_index == header.seg_count - 1
            batch_end = header.seg_index == header.seg_count - 1
            tail = FLUSH_SYMBOLS if last else BATCH_TAIL if batch_end else 0
            lead = FIRST_LEAD if not self.segments else LEAD_RAMP if header.seg_index == 0 \
                else 0
            frame = frame_payload(header, part, self.pad + tail, lead)
            self.segments += 1
            self.payload_symbols += header.n_symbols
            self.payload_bits += len(part) * header.bits_per_symbol
            self.data_symbols += len(part)
            self.frame_symbols += len(frame)
            TIMELINE.add(batch_id, "air_symbols",
                         len(frame) - (FLUSH_SYMBOLS - BATCH_TAIL if last else 0))
            t0 += self._put(({"batch_id": header.batch_id, "seg_index": header.seg_index,
                              "seg_count": header.seg_count, "last": last}, frame))
        TIMELINE.mark(batch_id, "map_s", time.perf_counter() - t0)


class frame_stream(gr.sync_block):  # noqa: N801
    """The frames of a queue as one complex-symbol stream; each frame's first symbol carries
    a ``packet_len`` tag (its length) and its metadata as tags, as pdu_to_tagged_stream
    would. A message on ``wake`` (one per frame queued) gets the scheduler to call it."""

    def __init__(self, frames: queue.Queue, len_tag: str = "packet_len") -> None:
        gr.sync_block.__init__(self, name="phydnn_frame_stream", in_sig=None,
                               out_sig=[np.complex64])
        self.frames, self.len_tag = frames, pmt.intern(len_tag)
        self.message_port_register_in(pmt.intern("wake"))
        self.set_msg_handler(pmt.intern("wake"), self._wake)
        self._frame: np.ndarray | None = None
        self._pos = self._written = 0

    def _wake(self, msg: pmt.pmt_t) -> None:
        """Nothing to do: the message's arrival is what makes the scheduler call work()."""

    def _next(self) -> bool:
        try:
            meta, self._frame = self.frames.get_nowait()
        except queue.Empty:
            return False
        self._pos = 0
        self._tag(meta)
        return True

    def _tag(self, meta: dict) -> None:
        at = self.nitems_written(0) + self._written
        self.add_item_tag(0, at, self.len_tag, pmt.from_long(len(self._frame)))
        for key, value in meta.items():
            pv = pmt.from_bool(value) if isinstance(value, bool) else pmt.from_long(int(value))
            self.add_item_tag(0, at, pmt.intern(key), pv)

    def work(self, input_items, output_items) -> int:
        out = output_items[0]
        self._written = 0
        while self._written < len(out):
            if self._frame is None and not self._next():
                break
            k = min(len(out) - self._written, len(self._frame) - self._pos)
            out[self._written:self._written + k] = self._frame[self._pos:self._pos + k]
            self._written += k
            self._pos += k
            if self._pos == len(self._frame):
                self._frame = None
        return self._written


class burst_tagger(greedy_block):  # noqa: N801
    """Pass samples through; turn each frame's length tag into tx_sob / tx_eob tags (UHD
    burst mode) and call ``on_last`` once the frame flagged ``last`` has passed. A
    :class:`~phydnn.blocks.greedy.greedy_block`: it passes every sample waiting at once."""

    def __init__(self, sps: int, len_tag: str = "packet_len",
                 on_last: Callable[[], None] | None = None) -> None:
        gr.basic_block.__init__(self, name="phydnn_burst_tagger", in_sig=[np.complex64],
                                out_sig=[np.complex64])
        self.sps, self.len_tag = int(sps), pmt.intern(len_tag)
        self.set_tag_propagation_policy(gr.TPP_DONT)
        self.on_last = on_last
        self._last_end: int | None = None
        self.samples = self.bursts = 0
        self.first_sample_time: float | None = None

    def general_work(self, input_items, output_items) -> int:
        n = min(len(input_items[0]), len(output_items[0]))
        output_items[0][:n] = input_items[0][:n]
        tags = self.get_tags_in_window(0, 0, n)
        last_at = {t.offset for t in tags
                   if pmt.symbol_to_string(t.key) == "last" and pmt.to_bool(t.value)}
        for tag in tags:
            key = pmt.symbol_to_string(tag.key)
            if tag.key == self.len_tag:
                length = pmt.to_long(tag.value) * self.sps
                self.add_item_tag(0, tag.offset, pmt.intern("tx_sob"), pmt.PMT_T)
                self.add_item_tag(0, tag.offset + length - 1, pmt.intern("tx_eob"), pmt.PMT_T)
                self.bursts += 1
                if tag.offset in last_at:
                    self._last_end = tag.offset + length
            elif key in ("batch_id", "seg_index"):
                self.add_item_tag(0, tag.offset, tag.key, tag.value)
        if self.first_sample_time is None and n:
            self.first_sample_time = time.time()
        self.samples += n
        end = self.nitems_read(0) + n
        if self._last_end is not None and end >= self._last_end and self.on_last:
            callback, self.on_last = self.on_last, None
            threading.Thread(target=callback, daemon=True).start()
        self.consume(0, n)
        return n


class framer(gr.hier_block2):  # noqa: N801
    """Segments + preamble + PHY header + RRC pulse shaping -> tagged bursts."""

    def __init__(self, sps: int = 2, rolloff: float = 0.35, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 samp_rate: float = 20e6, exit_when_done: bool = False,
                 on_last: Callable[[], None] | None = None) -> None:
        gr.hier_block2.__init__(self, "phydnn_framer", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        if int(sps) < 2:
            raise ValueError(f"sps={sps} is not allowed; samples per symbol must be >= 2")
        self.message_port_register_hier_in("symbols")
        self.sps, self.samp_rate = int(sps), float(samp_rate)
        self.exit_when_done = bool(exit_when_done)
        self.builder = frame_builder(max_payload)
        self.to_stream = frame_stream(self.builder.frames)
        self.to_stream.set_min_output_buffer(1 << 16)
        self.shaper = grfilter.interp_fir_filter_ccf(self.sps, rrc_taps(self.sps, rolloff).tolist())
        self.shaper.set_min_output_buffer(1 << 17)
        self.tagger = burst_tagger(self.sps, on_last=on_last or self._finish)
        self.tagger.set_min_output_buffer(1 << 17)   # a batch per call, not 4096 samples
        self.msg_connect(self, "symbols", self.builder, "symbols")
        self.msg_connect(self.builder, "wake", self.to_stream, "wake")
        self.connect(self.to_stream, self.shaper, self.tagger, self)

    def summary(self) -> str:
        """What went on air: segments, payload and framing, airtime at the sample rate."""
        b = self.builder
        return "\n".join([
            "phydnn TX summary",
            f"  segments          : {b.segments} ({self.tagger.bursts} bursts)",
            payload_line(b.payload_bits, b.data_symbols, b.payload_symbols, b.frame_symbols),
            f"  airtime           : {self.tagger.samples / self.samp_rate * 1e3:.2f} ms at "
            f"{self.samp_rate / 1e6:g} MS/s, sps {self.sps}"])

    def _finish(self) -> None:
        print(self.summary(), flush=True)
        if self.exit_when_done:  # let the radio / ZMQ sink drain, then end like Ctrl-C
            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGINT)

"""Tail RX: segment PDUs in, predictions out (the edge server's half, any codec).

Message port ``segments`` takes the PDUs of :class:`~phydnn.blocks.deframer`; segments are
reassembled by batch (phydnn.link.Reassembler: missing segments become erasures, the batch
is flagged partial), demapped by payload kind and decoded by the receiver side of the codec
bundle ``model`` (phydnn.link.RxTail; for PhyDNN: hard or soft demodulation, codebook
lookup, tail). Port ``predictions`` emits one PDU per batch: metadata
batch_id, n_images, labels (predicted, s32), partial (s32 per image), snr_db,
segments_missing; data = class probabilities, f32 N*classes.

Counters (methods, for GRC function probes and the summary): batches, images, segments ok /
lost / rejected by reason (the deframer's: CRC, truncated, bits per symbol, ...; and this
block's: ``wrong_model`` (another fingerprint), ``wrong_codec``, ``wrong_order`` (another
payload kind or bits per symbol), ``codec_field`` (a field this codec's receiver cannot
serve), ``images`` and ``geometry`` for segments that cannot belong to a batch of this
model, ``malformed`` PDUs), radio overflows, the SNR estimated from the received
constellation, and the running accuracy, split into complete and partial images, when the
true labels are known (``label_dataset``: the RX loads the same test split that the TX
source sends, in the same order, repeating it as the source does).
Each batch's last segment, tail compute and predictions are marked in
:data:`phydnn.link.timeline.TIMELINE`; ``timing_log`` (a CSV path) writes the per-batch
latency breakdown at the end of the run (the stages of one process: the loopback).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import fields

import numpy as np
import pmt
from gnuradio import gr

from phydnn.blocks.pdu import make_pdu, split_pdu
from phydnn.data import load_dataset
from phydnn.link import HeaderError, PhyHeader, Reassembler, RxTail
from phydnn.link.segment import ReceivedBatch, frame_length
from phydnn.link.timeline import TIMELINE, write_latency_csv
from phydnn.report import payload_line

__all__ = ["tail_rx"]


class tail_rx(gr.basic_block):  # noqa: N801
    """Reassemble, demodulate and classify; count and summarise."""

    def __init__(self, model: str = "models/fmnist_resnet20_phydnn_kd14ctx_m4",
                 receiver: str = "soft",
                 n_images: int = 0, label_dataset: str = "", label_split: str = "test",
                 batch_size: int = 64, samp_rate: float = 20e6, sps: int = 2,
                 idle_timeout_s: float = 5.0, exit_when_done: bool = False,
                 threads: int = 0, timing_log: str = "") -> None:
        gr.basic_block.__init__(self, name="phydnn_tail_rx", in_sig=None, out_sig=None)
        self.tail = RxTail(model, receiver, threads)
        self.reasm = Reassembler(self.tail.check)
        self.expected = int(n_images)
        self.samp_rate, self.sps = float(samp_rate), int(sps)
        self.batch_size = int(batch_size)
        self.labels = load_dataset(label_dataset, label_split).labels.numpy() \
            if label_dataset else None
        self.idle_timeout_s, self.exit_when_done = float(idle_timeout_s), bool(exit_when_done)
        self.timing_log = str(timing_log)
        self.message_port_register_in(pmt.intern("segments"))
        self.message_port_register_out(pmt.intern("predictions"))
        self.set_msg_handler(pmt.intern("segments"), self._handle)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.counts: Counter[str] = Counter()
        self.images = self.correct = self.labelled = self.partial_images = 0
        self.partial_correct = self.partial_labelled = 0
        self.batches = 0
        self.seen_batches: set[int] = set()
        self.nv_sum = 0.0
        self.frame_symbols = self.payload_bits = self.payload_symbols = self.data_symbols = 0
        self.tail_s = 0.0
        self.last_snr_db = float("nan")
        self.t_first = self.t_last = 0.0
        self._warned: set[str] = set()
        self._timer: threading.Thread | None = None

    # --- probes ---------------------------------------------------------------------------
    def accuracy(self) -> float:
        return self.correct / self.labelled if self.labelled else float("nan")

    def snr_db(self) -> float:
        return self.last_snr_db

    def images_classified(self) -> int:
        return self.images

    # --- messages -------------------------------------------------------------------------
    def _handle(self, msg: pmt.pmt_t) -> None:
        meta, data = split_pdu(msg)
        with self.lock:
            self.t_last = time.time()
            self.t_first = self.t_first or self.t_last
            if "rejected" in meta:
                self.counts[f"rejected_{meta['rejected']}"] += 1
                return
            if "event" in meta:
                self.counts[f"event_{meta['event']}"] += 1
                return
            try:
                self._place(meta, data)
            except HeaderError as err:
                self.counts[f"rejected_{err.reason}"] += 1
            except (KeyError, TypeError, ValueError) as err:
                self._refuse("malformed", f"a segment PDU without the deframer's metadata "
                             f"({type(err).__name__}: {err}): refused")
        self._arm_idle_timer()

    def _place(self, meta: dict, data) -> None:
        """Check one segment against the model, reassemble, classify what completes."""
        header = self._header(meta)
        if header is None:
            return
        noise_var = float(meta["noise_var"])
        data = np.asarray(data, dtype=np.complex64)
        complete = self.reasm.add(header, data, noise_var)
        self.counts["segments_ok"] += 1
        TIMELINE.mark(header.batch_id, "rx_last", self.t_last)
        self.frame_symbols += frame_length(header.n_symbols)
        self.payload_bits += len(data) * header.bits_per_symbol
        self.payload_symbols += header.n_symbols
        self.data_symbols += len(data)
        self.nv_sum += noise_var
        for batch in complete:
            self._classify(batch)

    def _header(self, meta: dict) -> PhyHeader | None:
        """The segment's header from the deframer's metadata, or None (refused and counted)
        when it is not this receiver's: another fingerprint, codec or payload."""
        h = PhyHeader(**{f.name: meta[f.name] for f in fields(PhyHeader)})
        tail = self.tail
        if h.fingerprint != tail.fingerprint[:8]:
            self._refuse("wrong_model", f"segments from a transmitter with model fingerprint "
                         f"{h.fingerprint}, this receiver has {tail.fingerprint[:8]}"
                         f" ({tail.path}): refused")
        elif h.codec_id != tail.codec_id:
            self._refuse("wrong_codec", f"segments of codec id {h.codec_id}, this receiver "
                         f"runs {tail.side.codec_name} (id {tail.codec_id})")
        elif h.bits_per_symbol != tail.bits_per_symbol or h.kind != tail.spec.kind:
            self._refuse("wrong_order", f"segments of a {h.kind} payload with "
                         f"{h.bits_per_symbol} bits per symbol, this receiver's model sends "
                         f"{tail.spec.kind} with {tail.bits_per_symbol}")
        else:
            return h
        return None

    def _refuse(self, reason: str, line: str) -> None:
        self.counts[f"rejected_{reason}"] += 1
        if reason not in self._warned:
            self._warned.add(reason)
            gr.log.warn(f"phydnn tail_rx: {line}")

    def _classify(self, batch: ReceivedBatch) -> None:
        t0 = time.perf_counter()
        pred = self.tail.classify(batch)
        seconds = time.perf_counter() - t0
        self.tail_s += seconds
        TIMELINE.mark(batch.batch_id, "tail_s", seconds)
        self.batches += 1
        self.seen_batches.add(batch.batch_id)
        self.images += batch.n_images
        self.partial_images += int(pred.partial.sum())
        self.counts["segments_lost"] += len([s for s in batch.segments_missing if s >= 0])
        self.last_snr_db = batch.snr_db
        if self.labels is not None:
            start = batch.batch_id * self.batch_size   # the source repeats its split
            truth = self.labels[(start + np.arange(batch.n_images)) % len(self.labels)]
            hit = truth == pred.labels
            self.correct += int(hit.sum())
            self.labelled += batch.n_images
            self.partial_correct += int(hit[pred.partial].sum())
            self.partial_labelled += int(pred.partial.sum())
        meta = {"batch_id": batch.batch_id, "n_images": batch.n_images,
                "labels": pred.labels, "partial": pred.partial.astype(np.int32),
                "snr_db": batch.snr_db, "segments_missing": len(batch.segments_missing)}
        self.message_port_pub(pmt.intern("predictions"),
                              make_pdu(meta, pred.probabilities.reshape(-1)))
        TIMELINE.mark(batch.batch_id, "done", time.time())
        if self.expected and self.images >= self.expected:
            self._finish()

    # --- end of a run ---------------------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        if self._timer is None and self.idle_timeout_s > 0:
            self._timer = threading.Thread(target=self._idle_watch, daemon=True)
            self._timer.start()

    def _idle_watch(self) -> None:
        while not self.done.is_set():
            time.sleep(min(self.idle_timeout_s / 4, 0.25))
            with self.lock:
                if self.done.is_set() or time.time() - self.t_last < self.idle_timeout_s:
                    continue
                for batch in self.reasm.flush():
                    self._classify(batch)
                if self.expected and self.images < self.expected:
                    self._classify_unseen()
                    self._finish()

    def _classify_unseen(self) -> None:
        """Batches of which no segment arrived: all positions erased, still classified."""
        n_batches = -(-self.expected // self.batch_size)
        for b in sorted(set(range(n_batches)) - self.seen_batches):
            n = min(self.batch_size, self.expected - b * self.batch_size)
            total = n * self.tail.positions      # codec field 0: what a lost batch would carry
            self.counts["images_never_seen"] += n
            self._classify(ReceivedBatch(b, n, np.full(total, np.nan, dtype=np.complex64),
                                         np.full(total, np.nan, dtype=np.float32), 0, [-1]))

    def _finish(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        print(self.summary(), flush=True)
        if self.timing_log:
            path = write_latency_csv(self.timing_log, self.sps, self.samp_rate)
            print(f"  latency per batch : {path}", flush=True)
        if self.exit_when_done:
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    def summary(self) -> str:
        """One block of text: what arrived, how well it was classified, what it cost."""
        ok = self.counts["segments_ok"]
        rejected = {k[9:]: v for k, v in self.counts.items() if k.startswith("rejected_")}
        lost = self.counts["segments_lost"]
        snr = -10 * np.log10(self.nv_sum / ok) if ok else float("nan")
        airtime = self.frame_symbols * self.sps / self.samp_rate
        payload_symbols = self.payload_symbols
        acc = f"{self.accuracy() * 100:.2f} %" if self.labelled else "n/a (labels unknown)"
        if self.partial_labelled:
            whole = self.labelled - self.partial_labelled
            acc += (f" ({(self.correct - self.partial_correct) / max(whole, 1) * 100:.2f} % of "
                    f"{whole} complete, {self.partial_correct / self.partial_labelled * 100:.2f}"
                    f" % of {self.partial_labelled} partial)")
        lines = [
            "phydnn RX summary",
            f"  images classified : {self.images}"
            + (f" of {self.expected}" if self.expected else "")
            + f" ({self.partial_images} partial)",
            f"  accuracy          : {acc}",
            f"  segments          : {ok} ok, {lost} lost, rejected "
            + (", ".join(f"{v} {k}" for k, v in sorted(rejected.items())) or "none"),
            f"  segment delivery  : {ok / (ok + lost) * 100 if ok + lost else 0:.2f} %",
            f"  SNR (estimated)   : {snr:.2f} dB Es/N0",
            payload_line(self.payload_bits, self.data_symbols, payload_symbols,
                         self.frame_symbols, self.images),
            f"  airtime           : {airtime * 1e3:.2f} ms at {self.samp_rate / 1e6:g} MS/s, "
            f"sps {self.sps}",
            f"  tail compute      : {self.tail_s:.2f} s",
        ]
        if self.counts["event_overflow"]:
            lines.append(f"  radio overflows   : {self.counts['event_overflow']} (gaps in the "
                         f"received stream; their segments count as lost)")
        if self.counts["images_never_seen"]:
            lines.append(f"  never seen        : {self.counts['images_never_seen']} images "
                         f"(no segment arrived; classified from erasures)")
        return "\n".join(lines)

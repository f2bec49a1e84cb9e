"""Tail RX: segment PDUs in, predictions out (the edge server's half, any codec).

Message port ``segments`` takes the PDUs of :class:`~phydnn.blocks.deframer`; segments are
reassembled by batch (phydnn.link.Reassembler: missing segments become erasures, the batch
is flagged partial), demapped by payload kind and decoded by the receiver side of the codec
bundle ``model`` (phydnn.link.RxTail; for PhyDNN: hard or soft demodulation, codebook
lookup, tail). Port ``predictions`` emits one PDU per batch: metadata
batch_id, n_images, labels (predicted, s32), partial (s32 per image), snr_db,
segments_missing; data = class probabilities, f32 N*classes. Port ``feedback`` emits, per
batch, the channel as this receiver measured it (metadata batch_id, snr_db: Es/N0 from the
noise variance of each segment's known header symbols, its pilots; no data), for a
transmitter that adapts to the channel (:class:`~phydnn.blocks.head_tx`'s ``feedback``
port; in the loopback over a ZMQ PUB/SUB pair on 127.0.0.1, the return path of a real link).

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

A receiver says what it hears. The deframer's status PDUs (on ``segments``: samples in,
their power, sync words) keep what it heard; every ``status_interval_s`` the block prints
one status line (samples in, sync words, segments, refusals by reason, estimated SNR,
images) and publishes it on output ``status`` (a PDU whose metadata holds the counters,
with ``summary`` added at the end); after ``hint_after_s`` without a segment (a sync word
with a header that decodes) it prints a hint naming what it heard (nothing, samples
without sync words, sync words whose headers fail) and the likely causes (no transmitter,
another samples-per-symbol or sample rate, frequency, gain). Every stop prints the
summary: the expected images all classified, the idle timeout after the transmitter fell
silent, or the flowgraph stopped (SIGINT, SIGTERM, the window closed). Images of batches
of which no segment arrived are counted as never seen, apart from the
images received, and are not scored.
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

__all__ = ["tail_rx", "window_shown"]


def window_shown() -> bool:
    """Whether this program's Qt window is on a screen (not Qt's offscreen platform, which
    ``phydnn loopback`` without ``--gui`` and the tests use)."""
    return os.environ.get("QT_QPA_PLATFORM") != "offscreen" and bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _reasons(rejected: dict[str, int]) -> str:
    """Refusals by reason for the summary and the status line: "3 crc, 1 wrong_model"."""
    return ", ".join(f"{v} {k}" for k, v in sorted(rejected.items())) or "none"


class tail_rx(gr.basic_block):  # noqa: N801
    """Reassemble, demodulate and classify; count and summarise."""

    def __init__(self, model: str = "models/fmnist_resnet20_phydnn_kd14ctx_m4",
                 receiver: str = "soft",
                 n_images: int = 0, label_dataset: str = "", label_split: str = "test",
                 batch_size: int = 64, samp_rate: float = 20e6, sps: int = 2,
                 idle_timeout_s: float = 5.0, exit_when_done: int = 0,
                 threads: int = 0, timing_log: str = "", status_interval_s: float = 10.0,
                 hint_after_s: float = 15.0, backend: str = "eager") -> None:
        gr.basic_block.__init__(self, name="phydnn_tail_rx", in_sig=None, out_sig=None)
        self.tail = RxTail(model, receiver, threads, backend)
        self.reasm = Reassembler(self.tail.check)
        self.expected = int(n_images)
        self.samp_rate, self.sps = float(samp_rate), int(sps)
        self.batch_size = int(batch_size)
        self.labels = load_dataset(label_dataset, label_split).labels.numpy() \
            if label_dataset else None
        self.idle_timeout_s, self.exit_when_done = float(idle_timeout_s), int(exit_when_done)
        self.timing_log = str(timing_log)
        self.status_interval_s, self.hint_after_s = float(status_interval_s), float(hint_after_s)
        self.message_port_register_in(pmt.intern("segments"))
        self.message_port_register_out(pmt.intern("predictions"))
        self.message_port_register_out(pmt.intern("status"))
        self.message_port_register_out(pmt.intern("feedback"))
        self.set_msg_handler(pmt.intern("segments"), self._handle)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.counts: Counter[str] = Counter()
        self.images = self.correct = self.labelled = self.partial_images = 0
        self.partial_correct = self.partial_labelled = 0
        self.batches = 0
        self.seen_batches: set[int] = set()
        self.segments_per_batch: dict[int, int] = {}   # n_images -> segments, as heard
        self.nv_sum = 0.0
        self.frame_symbols = self.payload_bits = self.payload_symbols = self.data_symbols = 0
        self.tail_s = 0.0
        self.last_snr_db = float("nan")
        self.t_first = self.t_last = 0.0
        self.t_start = self.t_sync = time.time()  # start of the run, last sync word heard
        self.heard: dict = {}                      # the deframer's latest status counters
        self.frames_refused = self._refused_at_segment = 0   # by the deframer: in all, and
                                                  # up to the last good segment
        self.stopped_early = False
        self._hinted = 0        # 0: no hint this silence; 1: one for no samples; 2: for samples
        self._warned: set[str] = set()
        self._watcher: threading.Thread | None = None

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
            if meta.get("event") == "status":    # the deframer's counters: no sign of a frame
                self.heard = meta
                return
            self.t_last = time.time()
            self.t_first = self.t_first or self.t_last
            if "event" in meta:
                self.counts[f"event_{meta['event']}"] += 1
                return
            if "rejected" in meta:                       # by the deframer, after a sync word
                self.counts[f"rejected_{meta['rejected']}"] += 1
                self.frames_refused += 1
                return
            self.t_sync, self._hinted = self.t_last, 0    # a sync word with a good header
            self._refused_at_segment = self.frames_refused
            try:
                self._place(meta, data)
            except HeaderError as err:
                self.counts[f"rejected_{err.reason}"] += 1
            except (KeyError, TypeError, ValueError) as err:
                self._refuse("malformed", f"a segment PDU without the deframer's metadata "
                             f"({type(err).__name__}: {err}): refused")

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
        self.segments_per_batch[batch.n_images] = batch.segments_expected
        self.images += batch.n_images
        self.partial_images += int(pred.partial.sum())
        self.counts["segments_lost"] += len([s for s in batch.segments_missing if s >= 0])
        self.last_snr_db = batch.snr_db
        meta = {"batch_id": batch.batch_id, "n_images": batch.n_images,
                "labels": pred.labels, "partial": pred.partial.astype(np.int32),
                "snr_db": batch.snr_db, "segments_missing": len(batch.segments_missing),
                "segments_expected": batch.segments_expected}
        if self.labels is not None:
            start = batch.batch_id * self.batch_size   # the source repeats its split
            truth = self.labels[(start + np.arange(batch.n_images)) % len(self.labels)]
            meta["true_labels"] = truth.astype(np.int32)
            hit = truth == pred.labels
            self.correct += int(hit.sum())
            self.labelled += batch.n_images
            self.partial_correct += int(hit[pred.partial].sum())
            self.partial_labelled += int(pred.partial.sum())
        self.message_port_pub(pmt.intern("predictions"),
                              make_pdu(meta, pred.probabilities.reshape(-1)))
        if np.isfinite(batch.snr_db):
            self.message_port_pub(pmt.intern("feedback"), make_pdu(
                {"batch_id": batch.batch_id, "snr_db": float(batch.snr_db)},
                np.zeros(0, np.float32)))
        TIMELINE.mark(batch.batch_id, "done", time.time())
        if self.expected and self.images >= self.expected:
            self._finish()

    # --- the run: start, watch, stop -----------------------------------------------------
    def start(self) -> bool:
        self.t_start = self.t_sync = time.time()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return True

    def stop(self) -> bool:
        """The flowgraph stops (SIGINT, SIGTERM, window closed, end of a program): every stop
        prints the summary; batches still being reassembled are classified first."""
        with self.lock:
            self.exit_when_done = 0              # stopping already
            if not self.done.is_set():
                self.stopped_early = bool(self.expected) and self.images < self.expected
                for batch in self.reasm.flush():
                    self._classify(batch)
                self._count_unseen()
                self._finish(exit_program=False)
        return True

    def _watch(self) -> None:
        """Every 0.25 s: the idle timeout, the periodic status line, the hint."""
        next_status = self.t_start + self.status_interval_s
        while not self.done.wait(0.25):
            now = time.time()
            with self.lock:
                if self.done.is_set():
                    return
                self._check_idle(now)
                line = self._hint(now)
                if self.status_interval_s > 0 and now >= next_status:
                    next_status = now + self.status_interval_s
                    line = "\n".join(filter(None, [line, self.status_line(now)]))
                    self._publish_status()
            if line:
                print(line, flush=True)

    def _check_idle(self, now: float) -> None:
        """Something was heard and then nothing for ``idle_timeout_s``: classify what is
        being reassembled and, when images are still missing, end the run."""
        if not self.t_first or self.idle_timeout_s <= 0 or \
                now - self.t_last < self.idle_timeout_s:
            return
        for batch in self.reasm.flush():
            self._classify(batch)
        if self.expected and self.images < self.expected:
            self._count_unseen()
            self._finish()

    def _count_unseen(self) -> None:
        """Images of batches of which no segment arrived: never seen, so not classified and
        not scored (a receiver cannot know what it never heard; the transmitter's count,
        ``n_images``, says how many there were)."""
        if not self.expected:
            return
        n_batches = -(-self.expected // self.batch_size)
        unseen = set(range(n_batches)) - self.seen_batches
        sizes = [min(self.batch_size, self.expected - b * self.batch_size) for b in unseen]
        self.counts["images_never_seen"] = sum(sizes)
        # their segments were lost too (delivery must count a batch of one segment that
        # never arrived): as many as a heard batch of that size had, else at least one
        heard = max(self.segments_per_batch.values(), default=1)
        self.counts["segments_never_seen"] = sum(self.segments_per_batch.get(n, heard)
                                                 for n in sizes)

    def _hint(self, now: float) -> str:
        """After ``hint_after_s`` without a segment (a sync word with a good header), what
        was heard and the likely causes: once per silence, and once more when samples start
        to arrive in a silence that had none."""
        silent = now - self.t_sync
        samples = int(self.heard.get("samples", 0))
        if self.hint_after_s <= 0 or silent < self.hint_after_s or \
                self._hinted == bool(samples) + 1:
            return ""
        self._hinted = bool(samples) + 1   # again once samples come where there were none
        if not samples:
            return (f"phydnn RX hint: no segment in {silent:.0f} s, and no samples have "
                    f"arrived at all: the radio source delivers nothing. Likely causes: no "
                    f"transmitter running (loopback: nothing publishes at the ZMQ address, or "
                    f"another address), or the radio is not streaming (USRP: check the "
                    f"device and its connection).")
        counts = self.status_counts(now)
        refused = _reasons(counts["rejected"])
        since = self.frames_refused - self._refused_at_segment
        if since:
            heard = (f"{since} sync words found since but no header decoded (refused so far: "
                     f"{refused})")
        else:
            heard = (f"{self.heard.get('detections', 0)} correlator peaks and no sync word "
                     f"under them")
        return (f"phydnn RX hint: no segment in {silent:.0f} s; {samples / 1e6:.1f} M samples "
                f"arrived (mean power {self.heard.get('power_db', float('nan')):.1f} dBFS), "
                f"{heard}. Likely causes: no transmitter on air; a transmitter at another "
                f"samples-per-symbol or sample rate (this receiver: sps {self.sps} at "
                f"{self.samp_rate / 1e6:g} MS/s); another centre frequency; over the air, an "
                f"RX gain too low (mean power far under -40 dBFS) or saturating (near 0 "
                f"dBFS); a channel too poor for the header (under about 0 dB Es/N0).")

    def status_counts(self, now: float | None = None) -> dict:
        """The counters of the status line and the ``status`` PDU."""
        ok = self.counts["segments_ok"]
        rejected = {k[9:]: v for k, v in self.counts.items() if k.startswith("rejected_")}
        return {"elapsed_s": (now or time.time()) - self.t_start,
                "samples": int(self.heard.get("samples", 0)),
                "power_db": float(self.heard.get("power_db", float("nan"))),
                "detections": int(self.heard.get("detections", 0)),
                "sync_words": max(int(self.heard.get("sync_words", 0)),   # status is late
                                  ok + sum(rejected.values())),
                "segments_ok": ok,
                "segments_lost": self.counts["segments_lost"] + self.counts["segments_never_seen"],
                "rejected": rejected,
                "snr_db": -10 * np.log10(self.nv_sum / ok) if ok else float("nan"),
                "images": self.images, "expected": self.expected,
                "accuracy": self.accuracy()}

    def status_line(self, now: float | None = None) -> str:
        c = self.status_counts(now)
        rejected = _reasons(c["rejected"])
        images = f"{c['images']}" + (f" of {c['expected']}" if c["expected"] else "")
        power = f" ({c['power_db']:.1f} dBFS)" if c["samples"] else ""
        return (f"phydnn RX status: {c['elapsed_s']:.0f} s; {c['samples'] / 1e6:.1f} M samples "
                f"in{power}; {c['detections']} detections, {c['sync_words']} sync words; "
                f"segments "
                f"{c['segments_ok']} ok / {c['segments_lost']} lost; rejected {rejected}; "
                f"SNR {c['snr_db']:.1f} dB; images {images}")

    def _publish_status(self, summary: str = "") -> None:
        meta = self.status_counts()
        if summary:
            meta["summary"] = summary
        self.message_port_pub(pmt.intern("status"),
                              make_pdu(meta, np.zeros(0, dtype=np.float32)))

    def _finish(self, exit_program: bool = True) -> None:
        if self.done.is_set():
            return
        self.done.set()
        text = self.summary()
        print(text, flush=True)
        self._publish_status(text)
        if self.timing_log:
            path = write_latency_csv(self.timing_log, self.sps, self.samp_rate)
            print(f"  latency per batch : {path}", flush=True)
        if exit_program and (not window_shown() if self.exit_when_done < 0
                             else self.exit_when_done):
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    def summary(self) -> str:
        """One block of text: what arrived, how well it was classified, what it cost."""
        c = self.status_counts()
        ok, lost, snr = c["segments_ok"], c["segments_lost"], c["snr_db"]
        airtime = self.frame_symbols * self.sps / self.samp_rate
        payload_symbols = self.payload_symbols
        acc = f"{self.accuracy() * 100:.2f} %" if self.labelled else \
            "n/a (labels unknown)" if self.labels is None else "n/a (no image classified)"
        if self.partial_labelled:
            whole = self.labelled - self.partial_labelled
            acc += (f" ({(self.correct - self.partial_correct) / max(whole, 1) * 100:.2f} % of "
                    f"{whole} complete, {self.partial_correct / self.partial_labelled * 100:.2f}"
                    f" % of {self.partial_labelled} partial)")
        unseen = self.counts["images_never_seen"]
        lines = ["phydnn RX summary"]
        if self.stopped_early:
            lines.append(f"  stopped early     : after {time.time() - self.t_start:.1f} s, "
                         f"before the {self.expected} images expected had all arrived")
        lines += [
            f"  images classified : {self.images}"
            + (f" of {self.expected}" if self.expected else "")
            + f" ({self.partial_images} partial)",
        ]
        if unseen:
            lines.append(f"  never seen        : {unseen} images (no segment of their batch "
                         f"arrived: not classified, not scored)")
        lines.append(f"  accuracy          : {acc}")
        if unseen and self.labelled:
            lines.append(f"  of all sent       : {self.correct / self.expected * 100:.2f} % "
                         f"(the never-seen images counted as wrong)")
        lines += [
            f"  segments          : {ok} ok, {lost} lost, rejected "
            + _reasons(c["rejected"]),
            f"  segment delivery  : {ok / (ok + lost) * 100 if ok + lost else 0:.2f} %",
            f"  SNR (estimated)   : {snr:.2f} dB Es/N0",
            payload_line(self.payload_bits, self.data_symbols, payload_symbols,
                         self.frame_symbols, self.images),
            f"  airtime           : {airtime * 1e3:.2f} ms at {self.samp_rate / 1e6:g} MS/s, "
            f"sps {self.sps}",
            f"  tail compute      : {self.tail_s:.2f} s",
        ]
        if not ok:                     # (what was lost then is batches never seen)
            lines.append(f"  heard             : {self.heard.get('samples', 0)} samples, "
                         f"{c['sync_words']} sync words, no header decoded")
        if self.counts["event_overflow"]:
            lines.append(f"  radio overflows   : {self.counts['event_overflow']} (gaps in the "
                         f"received stream; their segments count as lost)")
        return "\n".join(lines)

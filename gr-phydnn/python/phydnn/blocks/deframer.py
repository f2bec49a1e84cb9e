"""Deframer / synchroniser: received samples -> one PDU per segment with a good header.

Hier block, complex samples in (``sps`` per symbol), message ports out: ``segments`` (one PDU
per segment: payload symbols normalised to unit power, c32; metadata: the PHY header fields,
``noise_var``, ``snr_db``; a PDU with key ``rejected`` (the reason) and an empty vector for
every detection that failed: header CRC or fields, bits per symbol, a payload cut short; a
PDU with key ``event`` for every gap in the radio's stream, that is every ``rx_time`` tag after
the first: what gr-uhd's usrp_source sends after an overflow) and ``constellation`` (a few
payload symbols of a segment, at most 20 times a second, for a display). Every
``status_interval_s`` (1 s; 0: never), samples flowing or not, ``segments`` also carries a
PDU with key ``event`` = ``status``: samples in, their mean power in dB full scale,
correlator detections, sync words found, false alarms, segments; what the Tail RX's status
line and its "nothing heard" hint report. (On the segments port, not a port of its own: a
GNU Radio block drains one message port before it looks at the next, so behind a stream of
segments a second port's messages wait until the stream stops.) A correlator peak
without a sync word under it (data or noise) is dropped and counted as a false alarm; side
peaks of a refused sync word are dropped with it, so each frame is refused once.
Inside, stream blocks (GNU Radio's, and one of gr-phydnn's in C++) do the stream DSP:

    [fll_band_edge_cc (coarse frequency), off by default: every segment's frequency comes
    from its own sync word, measured to hold delivery and SER up to 3e-3 cycles/sample with
    or without the FLL, which costs a third of the RX chain's throughput] ->
    symbol_timing_cc (gr-phydnn's C++ block, lib/symbol_timing_cc_impl.cc: what GNU Radio's
    symbol_sync_cc does with these settings, at 1.8-2.2x its rate; ``timing="gnuradio"``
    runs the stock block instead. Gardner TED, polyphase RRC matched filter, 1 sample per
    symbol out; loop bandwidth 0.005: the radio's sample clock runs on between bursts, so a
    narrow loop keeps its lock through the gaps and its jitter stays small; its average
    period held within :data:`MAX_CLOCK_DEVIATION` of nominal, so that what it wanders in a
    gap the lead ramp pulls back. At 0.03 the loop slipped a symbol inside 3 of 188 BPSK
    segments at 4 dB (BER 2.2x theory) and its jitter put analog values' error 1.5 dB above
    sigma^2 at 0 dB; at 0.005: no slips, BPSK BER 1.05x theory
    at 4 dB, analog error 0.2 dB above sigma^2 at 0 dB, QPSK SER at theory from 0 dB, and
    12 % of the headers through at 0 dB instead of 3 %; 0.01-0.015 lost 2 % of the headers
    at 6 dB in two seeds, 0.005 and 0.02 none)
      -> corr_est_cc (sync-word detection, dynamic threshold)
      -> segment_sync (this module: per-segment gain / phase / frequency / noise from the
         segment's own preamble, header decode + CRC, payload tracking; phydnn.link.sync,
         its arithmetic in gr-phydnn's C++ sync_kernels, lib/sync_kernels.cc, which run
         without the GIL)
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np
import pmt
from gnuradio import digital, gr
from threadpoolctl import threadpool_limits

from phydnn.blocks.framer import rrc_taps
from phydnn.blocks.pdu import make_pdu
from phydnn.codecs import PayloadSpec, payload_spec
from phydnn.errors import check_choice
from phydnn.link import SYNC_WORD, HeaderError, SegmentSync
from phydnn.link.sync import HEADER_SPAN, SYNC_INSIDE, SYNC_QUALITY, locate_sync_word

__all__ = ["deframer", "segment_sync"]

NFILTERS = 32
DISPLAY_INTERVAL_S = 0.05      # constellation PDUs for a display: at most 20 per second
MAX_CLOCK_DEVIATION = 2e-4     # +-200 ppm of the symbol period, the most the timing loop's
                               # average period may stray: radio clocks are within tens of
                               # ppm (the B210's TCXO 2 ppm; the loopback's 50). Between bursts
                               # the loop hears only noise and its period walks freely; at
                               # +-5000 ppm it reached 1500 ppm in the 1024-symbol gap after a
                               # batch, the 512-symbol lead ramp did not pull it back, and the
                               # sampling drifted 0.7 symbol across the next header (1 header
                               # in 1200 lost at 0 dB, every one a batch's first)
REFINE = 4                     # symbols around a corr_est tag searched for the sync word
TIMING = ("phydnn", "gnuradio")   # timing recovery blocks (timing_block)
BUFFER = 65536                 # items in the timing's and the correlator's output buffers:
                               # the default 4096 made 296 work calls of segment_sync on 1280
                               # images (18.9 M samples/s), 65536 43 (23.7); a buffer caps a
                               # call's chunk, it does not delay one (work runs on what is there)


def timing_block(kind: str, sps: int, loop_bw: float, taps: np.ndarray) -> gr.basic_block:
    """The timing recovery: gr-phydnn's C++ ``symbol_timing_cc`` ("phydnn", the default:
    1.8-2.2x the stock block's rate here) or GNU Radio's ``symbol_sync_cc`` ("gnuradio"), both
    Gardner with the polyphase matched filter ``taps``, one symbol out per symbol, the same
    loop gains for ``loop_bw`` (damping 1, TED gain 1) and the same limit on the period."""
    if kind == "gnuradio":
        return digital.symbol_sync_cc(
            digital.TED_GARDNER, sps, loop_bw, 1.0, 1.0, MAX_CLOCK_DEVIATION * sps, 1,
            digital.constellation_bpsk().base(), digital.IR_PFB_MF, NFILTERS, taps.tolist())
    from gnuradio.phydnn import symbol_timing_cc  # built by tools/setup (gr-phydnn/lib)
    return symbol_timing_cc(sps, loop_bw, 1.0, 1.0, MAX_CLOCK_DEVIATION * sps, NFILTERS,
                            taps.tolist())


class segment_sync(gr.sync_block):  # noqa: N801
    """Symbols with corr_start tags in; segment PDUs out (see the module docstring)."""

    def __init__(self, expect: PayloadSpec | None = None, display_symbols: int = 256,
                 status_interval_s: float = 1.0) -> None:
        gr.sync_block.__init__(self, name="phydnn_segment_sync", in_sig=[np.complex64],
                               out_sig=None)
        # numpy's BLAS on one thread in this process: the per-segment solves are 17 x 17, and
        # OpenBLAS's worker threads, spinning beside the flowgraph's own, made each 20x slower
        threadpool_limits(1, user_api="blas")
        from gnuradio.phydnn.phydnn_python import sync_kernels  # gr-phydnn/lib, C++
        self.sync = SegmentSync(expect, kernels=sync_kernels)
        self.display = int(display_symbols)
        self.message_port_register_out(pmt.intern("segments"))
        self.message_port_register_out(pmt.intern("constellation"))
        self.status_interval_s = float(status_interval_s)
        self.samples_in = lambda: self.nitems_read(0)   # the hier block counts at its input
        self.power_db = float("nan")             # mean |x|^2 of the latest work call, dBFS
        self._last_status = 0.0
        self._stopping = threading.Event()
        self._buf = np.zeros(0, dtype=np.complex64)
        self._buf_start = 0                      # absolute index of _buf[0]
        self._candidates: list[int] = []         # absolute sync-word starts
        self._state: dict[int, object] = {}      # candidate -> decoded header state
        self._located: dict[int, tuple[int, float]] = {}   # candidate -> (start, fit)
        self._refused: deque[int] = deque(maxlen=64)   # refined starts already refused
        self._resume = 0                         # absolute index before which all is used
        self.detections = self.segments = self.overflows = self.false_alarms = 0
        self._stream_timed = False
        self.rejected: Counter[str] = Counter()
        self._last_display = 0.0

    def work(self, input_items, output_items) -> int:
        x = input_items[0]
        start = self.nitems_read(0)
        for tag in self.get_tags_in_window(0, 0, len(x), pmt.intern("corr_start")):
            if tag.offset >= self._resume:
                self._candidates.append(tag.offset)
                self.detections += 1
        for _ in self.get_tags_in_window(0, 0, len(x), pmt.intern("rx_time")):
            if self._stream_timed:
                self.overflows += 1
                self.message_port_pub(pmt.intern("segments"), make_pdu(
                    {"event": "overflow"}, np.zeros(0, dtype=np.complex64)))
            self._stream_timed = True
        self._buf = np.concatenate([self._buf, x])
        self._process()
        self._measure(x)
        keep_from = min(self._candidates + [start + len(x) - len(SYNC_WORD) - 2])
        drop = max(0, keep_from - 1 - self._buf_start)
        if drop:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return len(x)

    def _measure(self, x: np.ndarray) -> None:
        """The mean power of the latest samples, at most every ``status_interval_s``."""
        now = time.monotonic()
        if self.status_interval_s <= 0 or now - self._last_status < self.status_interval_s \
                or not len(x):
            return
        self._last_status = now
        power = float(np.vdot(x, x).real) / len(x)
        self.power_db = 10 * np.log10(power) if power > 0 else -np.inf

    def start(self) -> bool:
        """Publish the counters every ``status_interval_s`` from a thread of this block's
        own, so that they keep coming when no samples do."""
        self._stopping = threading.Event()
        if self.status_interval_s > 0:
            threading.Thread(target=self._status_loop, daemon=True).start()
        return True

    def stop(self) -> bool:
        self._stopping.set()
        return True

    def _status_loop(self) -> None:
        while not self._stopping.wait(self.status_interval_s):
            meta = {"event": "status", "samples": int(self.samples_in()),
                    "power_db": self.power_db, "detections": self.detections,
                    "sync_words": self.sync_words(), "false_alarms": self.false_alarms,
                    "segments": self.segments}
            self.message_port_pub(pmt.intern("segments"),
                                  make_pdu(meta, np.zeros(0, dtype=np.complex64)))

    def sync_words(self) -> int:
        """Sync words found: segments delivered and frames refused after their sync word."""
        return self.segments + sum(list(self.rejected.values()))

    def _locate(self, at: int) -> tuple[int, float]:
        """(absolute start, fit) of the sync word near candidate ``at``, once per candidate
        (:func:`phydnn.link.sync.locate_sync_word`, within +-:data:`REFINE` symbols)."""
        hit = self._located.get(at)
        if hit is None:
            start, fit = locate_sync_word(self._buf, at - self._buf_start, REFINE)
            hit = self._located[at] = (start + self._buf_start, fit)
        return hit

    def _window(self, at: int) -> np.ndarray:
        """Symbols from the sync word found near ``at`` to the buffer end."""
        return self._buf[self._locate(at)[0] - self._buf_start:]

    def _process(self) -> None:
        while self._candidates:
            at = self._candidates[0]
            if at < self._resume:
                self._drop(at)
                continue
            avail = self._buf_start + len(self._buf) - at
            if avail < len(SYNC_WORD) + REFINE + 1:
                return
            start, fit = self._locate(at)
            if start in self._refused:               # a side peak of a refused sync word
                self._drop(at)
                continue
            if fit <= SYNC_QUALITY:                  # the correlator fired on data or noise
                self.false_alarms += 1
                self._drop(at)
                continue
            try:
                state = self._state.get(at)
                if state is None:
                    if avail < HEADER_SPAN + 1:
                        return
                    state = self._state[at] = self.sync.sync_header(self._window(at))
                inside = self._next_frame_inside(at, state.header.n_symbols)
                if inside is None:                   # a sync word there, not yet all here
                    return
                if inside:
                    raise HeaderError("truncated", "the next frame starts inside the payload")
                if avail < HEADER_SPAN + state.header.n_symbols + 1:
                    return
                result = self.sync.sync_payload(state, self._window(at))
            except HeaderError as err:
                self.rejected[err.reason] += 1
                self._reject(err.reason)
                self._refused.append(start)
                self._drop(at)
                continue
            self._emit(result)
            self._resume = at + result.consumed - 1
            self._drop(at)

    def _next_frame_inside(self, at: int, n_symbols: int) -> bool | None:
        """Whether a later sync word starts inside the payload that the header at ``at``
        announced: the burst was cut (or its length field is wrong) and the next frame
        follows. Decided as soon as that sync word is here, without waiting for the rest;
        None while a candidate inside the payload has not all arrived (a sync word that
        starts just before the announced end would otherwise pass the silent-tail check:
        found by the fuzz test with header v2's longer header)."""
        end = at + HEADER_SPAN + n_symbols
        here = self._buf_start + len(self._buf)
        for c in self._candidates[1:]:
            if c >= end:
                break
            if c < at + HEADER_SPAN:
                continue
            if c + len(SYNC_WORD) + REFINE > here:
                return None
            if self._locate(c)[1] > SYNC_INSIDE:
                return True
        return False

    def _drop(self, at: int) -> None:
        self._candidates.pop(0)
        self._state.pop(at, None)
        self._located.pop(at, None)

    def _reject(self, reason: str) -> None:
        self.message_port_pub(pmt.intern("segments"),
                              make_pdu({"rejected": reason}, np.zeros(0, dtype=np.complex64)))

    def _emit(self, result) -> None:
        h = result.header
        meta = {**h.__dict__, "noise_var": result.noise_var, "snr_db": result.snr_db}
        self.segments += 1
        self.message_port_pub(pmt.intern("segments"), make_pdu(meta, result.payload))
        now = time.monotonic()
        if self.display and now - self._last_display >= DISPLAY_INTERVAL_S:
            self._last_display = now
            self.message_port_pub(pmt.intern("constellation"), make_pdu(
                {"snr_db": result.snr_db}, result.payload[:self.display]))


class deframer(gr.hier_block2):  # noqa: N801
    """Frequency lock, timing recovery, sync-word detection and per-segment sync. The payload
    it takes (kind, bits per symbol) comes from the card of the codec bundle ``model`` (no
    weights are loaded); with ``model`` empty it takes whatever the headers announce."""

    def __init__(self, model: str = "models/fmnist_resnet20_phydnn_kd14ctx_m4", sps: int = 2,
                 rolloff: float = 0.35,
                 threshold: float = 0.99, fll_bw: float = 0.002, timing_bw: float = 0.005,
                 use_fll: bool = False, status_interval_s: float = 1.0,
                 timing: str = "phydnn") -> None:
        gr.hier_block2.__init__(self, "phydnn_deframer",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("segments")
        self.message_port_register_hier_out("constellation")
        sps = int(sps)
        check_choice("timing", timing, TIMING)
        if sps < 2:
            raise ValueError(f"sps={sps} is not allowed; samples per symbol must be >= 2")
        expect = payload_spec(model) if model else None
        taps = rrc_taps(sps * NFILTERS, rolloff) * np.sqrt(NFILTERS)  # unit gain per arm
        self.fll = digital.fll_band_edge_cc(sps, rolloff, 2 * sps + 1, fll_bw)
        self.timing = timing_block(timing, sps, timing_bw, taps)
        self.detect = digital.corr_est_cc(SYNC_WORD.tolist(), 1, 0, threshold,
                                          digital.THRESHOLD_DYNAMIC)
        self.sync = segment_sync(expect, status_interval_s=status_interval_s)
        self.sync.samples_in = lambda: self.timing.nitems_read(0)
        chain = [self, self.fll, self.timing, self.detect, self.sync] if use_fll else \
            [self, self.timing, self.detect, self.sync]
        for block in (self.timing, self.detect):   # symbols to segment_sync in chunks of up to
            block.set_min_output_buffer(BUFFER)     # BUFFER: its Python work call costs ~0.2 ms
        self.connect(*chain)
        self.msg_connect(self.sync, "segments", self, "segments")
        self.msg_connect(self.sync, "constellation", self, "constellation")

"""Air clock: the loopback's stand-in for a radio's sample clock, and the batch's air times.

A block on the TX samples (inside the channel simulator in real-time mode, before the
channel model, which drops stream tags). It lets samples pass no faster than ``samp_rate``,
as a DAC would, by :class:`phydnn.link.clock.SampleClock`: sample k of a contiguous stream is
on air at ``t_start + k / samp_rate``, idle time earns no credit, a sample reaches the receiver
at the start of its airtime (at most :data:`CHUNK_S` ahead), and the clock keeps time by the
samples, so a late wake-up of this thread (on 2 cores the receiver's DSP, slower than 20 MS/s,
competes with it for the CPU) releases everything due at once instead of adding up. The time
by which a batch's last sample reached the receiver after its airtime is logged as ``air_lag``
(the release lag of this simulated radio).

It is a :class:`~phydnn.blocks.greedy.greedy_block`, handed every sample that is waiting.
It sets Python's GIL switch interval (process-wide) to 0.5 ms, so that it wakes on time behind
the other blocks' Python work. It also reads the framer's tags (batch_id, tx_sob, tx_eob) and
marks each batch's first and last sample on air in :data:`phydnn.link.timeline.TIMELINE`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pmt
from gnuradio import gr

from phydnn.blocks.greedy import greedy_block
from phydnn.link.clock import SampleClock
from phydnn.link.timeline import TIMELINE

__all__ = ["air_clock"]

CHUNK_S = 1e-3          # how far ahead of its airtime a sample may reach the receiver
BUFFER_ITEMS = 1 << 17  # output buffer: a batch of 64 images at sps 2 is 130 k samples
GIL_SWITCH_S = 5e-4     # Python passes the GIL on after 5 ms by default: behind another
                        # block's Python work the clock would wake up to 5 ms late


class air_clock(greedy_block):  # noqa: N801
    """Pass samples paced to ``samp_rate``; stamp air_start / air_end / air_lag."""

    def __init__(self, samp_rate: float = 20e6) -> None:
        gr.basic_block.__init__(self, name="phydnn_air_clock", in_sig=[np.complex64],
                                out_sig=[np.complex64])
        self.clock = SampleClock(samp_rate, CHUNK_S)
        self.samp_rate = self.clock.samp_rate
        sys.setswitchinterval(GIL_SWITCH_S)
        self.set_min_output_buffer(BUFFER_ITEMS)
        self.batch: int | None = None

    def general_work(self, input_items, output_items) -> int:
        now = time.time()
        t0 = self.clock.next_airtime(now)
        if t0 > now:                        # wait for the next sample's airtime
            time.sleep(t0 - now)
            now = time.time()
        n = self.clock.release(t0, now, min(len(input_items[0]), len(output_items[0])))
        output_items[0][:n] = input_items[0][:n]
        self._stamp(n, t0, now)
        self.consume(0, n)
        return n

    def _stamp(self, n: int, t0: float, now: float) -> None:
        """Mark the batch's first and last sample on air (their place on the clock) and
        how late its last sample reached the receiver."""
        start = self.nitems_read(0)
        tags = sorted(self.get_tags_in_window(0, 0, n),
                      key=lambda t: (t.offset, pmt.symbol_to_string(t.key) != "batch_id"))
        for tag in tags:
            key = pmt.symbol_to_string(tag.key)
            at = self.clock.airtime(t0, tag.offset - start)
            if key == "batch_id":
                self.batch = int(pmt.to_long(tag.value))
            elif key == "tx_sob" and self.batch is not None:
                TIMELINE.mark(self.batch, "air_start", at, keep_first=True)
            elif key == "tx_eob" and self.batch is not None:
                TIMELINE.mark(self.batch, "air_end", self.clock.airtime(at, 1))
                TIMELINE.mark(self.batch, "air_lag", max(now - at, 0.0))

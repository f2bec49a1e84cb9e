"""Air clock: the loopback's stand-in for a radio's sample clock, and the batch's air times.

A sync block on the TX samples (inside the channel simulator in real-time mode, before the
channel model, which drops stream tags). It lets samples pass no faster than ``samp_rate``,
as a DAC would: the air is a resource that is free again ``n / samp_rate`` after n samples,
and idle time earns no credit (GNU Radio's throttle lets a burst through at once after a
pause, which would hide the airtime). Each call passes at most :data:`CHUNK_S` of air, released
at the start of its airtime, so the receiver never hears more than that ahead of the air; its
output buffer holds a whole batch, so a slow receiver does not stall the clock sample block
by sample block; and it sets Python's GIL switch interval (process-wide) to 0.5 ms, so that it
wakes on time behind the other blocks' Python work. It also reads the framer's tags
(batch_id, tx_sob, tx_eob) and marks each batch's first and last sample on air in
:data:`phydnn.link.timeline.TIMELINE`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pmt
from gnuradio import gr

from phydnn.errors import check_positive
from phydnn.link.timeline import TIMELINE

__all__ = ["air_clock"]

CHUNK_S = 1e-3          # air passed per call
BUFFER_ITEMS = 1 << 17  # output buffer: a batch of 64 images at sps 2 is 130 k samples
GIL_SWITCH_S = 5e-4     # Python passes the GIL on after 5 ms by default: behind another
                        # block's Python work the clock would wake up to 5 ms late


class air_clock(gr.sync_block):  # noqa: N801
    """Pass samples paced to ``samp_rate``; stamp air_start / air_end."""

    def __init__(self, samp_rate: float = 20e6) -> None:
        gr.sync_block.__init__(self, name="phydnn_air_clock", in_sig=[np.complex64],
                               out_sig=[np.complex64])
        self.samp_rate = check_positive("samp_rate", samp_rate)
        self.chunk = max(int(self.samp_rate * CHUNK_S), 1)
        sys.setswitchinterval(GIL_SWITCH_S)
        self.set_min_output_buffer(BUFFER_ITEMS)
        self.t_free = 0.0
        self.batch: int | None = None

    def work(self, input_items, output_items) -> int:
        n = min(len(output_items[0]), self.chunk)
        output_items[0][:n] = input_items[0][:n]
        now = time.time()
        t0 = max(now, self.t_free)          # the air's clock: no credit for idle time
        start = self.nitems_read(0)
        tags = sorted(self.get_tags_in_window(0, 0, n),
                      key=lambda t: (t.offset, pmt.symbol_to_string(t.key) != "batch_id"))
        for tag in tags:
            key = pmt.symbol_to_string(tag.key)
            at = t0 + (tag.offset - start) / self.samp_rate
            if key == "batch_id":
                self.batch = int(pmt.to_long(tag.value))
            elif key == "tx_sob" and self.batch is not None:
                TIMELINE.mark(self.batch, "air_start", at, keep_first=True)
            elif key == "tx_eob" and self.batch is not None:
                TIMELINE.mark(self.batch, "air_end", at + 1.0 / self.samp_rate)
        self.t_free = t0 + n / self.samp_rate
        if self.t_free > now:
            time.sleep(self.t_free - now)
        return n

"""Burst eraser: takes whole bursts off the air at random, as a deep fade or a collision would.

A sync block on the TX samples, inside the channel simulator before the channel model (which
drops stream tags), only when a ``loss`` above 0 is asked for. It reads the framer's tx_sob /
tx_eob tags and zeroes every sample of a burst chosen with probability ``loss`` (each burst
is one segment), so the receiver hears only the channel's noise where that segment was: the
lost-segment test of the robustness issue, with the very same flowgraph.
"""

from __future__ import annotations

import numpy as np
import pmt
from gnuradio import gr

from phydnn.errors import ConfigError

__all__ = ["burst_eraser"]

_SOB, _EOB = pmt.intern("tx_sob"), pmt.intern("tx_eob")


class burst_eraser(gr.sync_block):  # noqa: N801
    """Zero each tagged burst with probability ``loss``; count bursts seen and erased."""

    def __init__(self, loss: float, seed: int = 0) -> None:
        gr.sync_block.__init__(self, name="phydnn_burst_eraser", in_sig=[np.complex64],
                               out_sig=[np.complex64])
        if not 0.0 <= float(loss) < 1.0:
            raise ConfigError(f"segment_loss={loss!r} is not allowed; it must be a fraction "
                              f"of the bursts in [0, 1)")
        self.loss = float(loss)
        self.rng = np.random.default_rng(int(seed))
        self.erasing = False
        self.bursts = self.erased = 0

    def work(self, input_items, output_items) -> int:
        y = output_items[0]
        n = len(y)
        y[:] = input_items[0][:n]
        start = self.nitems_read(0)
        tags = [t for t in self.get_tags_in_window(0, 0, n) if t.key in (_SOB, _EOB)]
        pos = 0
        for tag in sorted(tags, key=lambda t: t.offset):
            at = tag.offset - start
            if tag.key == _SOB:
                self._zero(y, pos, at)
                pos = at
                self.erasing = bool(self.rng.random() < self.loss)
                self.bursts += 1
                self.erased += self.erasing
            else:
                self._zero(y, pos, at + 1)
                pos, self.erasing = at + 1, False
        self._zero(y, pos, n)
        return n

    def _zero(self, y: np.ndarray, start: int, stop: int) -> None:
        if self.erasing and stop > start:
            y[start:stop] = 0

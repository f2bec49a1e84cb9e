"""Burst eraser and block fader: a gain per burst, as a deep fade, a collision or a channel
that holds still for a segment would give.

A sync block on the TX samples, inside the channel simulator before the channel model (which
drops stream tags), when a ``loss`` above 0 or a block ``fading`` is asked for. It reads the
framer's tx_sob / tx_eob tags (each burst is one segment) and multiplies every sample of a
burst by one gain: 0 with probability ``loss`` (the receiver hears only the channel's noise
where that segment was: the lost-segment test of the robustness issue, with the very same
flowgraph), else h: 1, or for block fading Rayleigh h ~ CN(0, 1) or Rician with factor
``k_factor`` (E|h|^2 = 1, so the Es/N0 set is the average), drawn anew for each burst: the
loopback's counterpart of the torch channel's block fading (:class:`phydnn.phy.ChannelSpec`).
"""

from __future__ import annotations

import numpy as np
import pmt
import torch
from gnuradio import gr

from phydnn.errors import ConfigError, check_choice
from phydnn.phy.channel import fading_gains

__all__ = ["BLOCK_FADING", "burst_eraser"]

BLOCK_FADING = ("none", "rayleigh", "rician")

_SOB, _EOB = pmt.intern("tx_sob"), pmt.intern("tx_eob")


class burst_eraser(gr.sync_block):  # noqa: N801
    """Zero each tagged burst with probability ``loss``, scale the others by their block gain;
    count bursts seen and erased."""

    def __init__(self, loss: float, seed: int = 0, fading: str = "none",
                 k_factor: float = 4.0) -> None:
        gr.sync_block.__init__(self, name="phydnn_burst_eraser", in_sig=[np.complex64],
                               out_sig=[np.complex64])
        if not 0.0 <= float(loss) < 1.0:
            raise ConfigError(f"segment_loss={loss!r} is not allowed; it must be a fraction "
                              f"of the bursts in [0, 1)")
        check_choice("fading", fading, BLOCK_FADING)
        self.loss, self.fading, self.k = float(loss), fading, float(k_factor)
        self.rng = np.random.default_rng(int(seed))
        self.gains = torch.Generator().manual_seed(int(seed))   # the torch channel's draw
        self.gain = 1.0 + 0j
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
                self.gain = self._draw()
                self.bursts += 1
                self.erased += self.erasing
            else:
                self._zero(y, pos, at + 1)
                pos, self.erasing = at + 1, False
        self._zero(y, pos, n)
        return n

    def _draw(self) -> complex:
        """The next burst's gain (E|h|^2 = 1): :func:`phydnn.phy.channel.fading_gains`, the
        draw of the torch path's block fading."""
        if self.fading == "none":
            return 1.0 + 0j
        k = self.k if self.fading == "rician" else 0.0
        return complex(fading_gains((1,), k, generator=self.gains)[0])

    def _zero(self, y: np.ndarray, start: int, stop: int) -> None:
        if stop <= start:
            return
        if self.erasing:
            y[start:stop] = 0
        elif self.gain != 1.0:
            y[start:stop] *= np.complex64(self.gain)

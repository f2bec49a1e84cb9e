"""A radio's sample clock for a simulated link: when each sample is on air (no GNU Radio).

Sample k of a contiguous stream is on air at ``t_start + k / samp_rate``; idle time earns no
credit, so a burst after a pause starts when it is seen (GNU Radio's throttle would let it
through at once, hiding the airtime). The clock keeps time by the samples, not by the wake-ups
of whoever drives it: while samples were left waiting, the next one's airtime follows the last
one's however late the caller comes back, and :meth:`SampleClock.release` then hands over
everything that is due, so lateness does not add up call after call. A sample may be handed
over up to ``ahead_s`` before its airtime (a receiver hears a chunk at a time).
"""

from __future__ import annotations

from phydnn.errors import check_positive

__all__ = ["SampleClock"]


class SampleClock:
    """Airtimes of a stream of samples at ``samp_rate``, released at most ``ahead_s`` early."""

    def __init__(self, samp_rate: float, ahead_s: float = 1e-3) -> None:
        self.samp_rate = check_positive("samp_rate", samp_rate)
        self.ahead = max(int(self.samp_rate * check_positive("ahead_s", ahead_s)), 1)
        self.t_free = 0.0          # airtime of the next sample, if it follows on
        self.backlog = False       # samples were left waiting by the last release

    def next_airtime(self, now: float) -> float:
        """Airtime of the next sample: right after the last one while samples were waiting,
        otherwise when it is seen (and not before the air is free)."""
        return self.t_free if self.backlog else max(now, self.t_free)

    def release(self, t0: float, now: float, available: int) -> int:
        """How many of ``available`` samples, the first on air at ``t0``, may go at ``now``:
        every one whose airtime starts before ``now + ahead_s``. Advances the clock."""
        n = min(available, int((now - t0) * self.samp_rate) + self.ahead)
        self.t_free = t0 + n / self.samp_rate
        self.backlog = available > n
        return n

    def airtime(self, t0: float, k: int) -> float:
        """Airtime of the k-th sample of a release that started at ``t0``."""
        return t0 + k / self.samp_rate

"""Channel simulator: what GNU Radio's channel_model does, in one block of gr-phydnn's made of
its parts (:func:`air_channel`), and its fading_model, set from Es/N0.

Hier block, complex samples in and out. ``snr_db`` is Es/N0 per symbol (DESIGN.md
"Definitions"): the framer's RRC pulse has unit energy, so after the receiver's matched
filter a symbol has energy 1 and the complex noise variance per sample equals N0; the noise
voltage is therefore 10^(-snr_db/20), whatever ``sps`` is. ``freq_offset`` is normalised to
the sample rate (cycles per sample), ``clock_ppm`` the sample-clock offset of the RX against
the TX, ``timing_offset`` a fractional delay in samples (the first position of the MMSE
interpolator that also runs the sample clock), ``taps`` explicit multipath taps at the
sample rate, ``profile`` a named power-delay profile instead of ``taps`` (the ITU-R M.1225
indoor office A / B and pedestrian A channels at ``samp_rate``:
:mod:`phydnn.phy.profiles`), ``fading`` none / rayleigh / rician (GNU Radio's fading_model:
flat; with a profile, its selective_fading_model, every path fading on its own;
``doppler`` = fD*Ts, ``k_factor`` for Rician); ``block-rayleigh`` / ``block-rician``: one
gain per burst (segment), drawn anew for each, the torch channel's block fading
(:class:`~phydnn.blocks.burst_eraser.burst_eraser`). ``seed`` 0 draws a fresh seed
(a fixed seed repeats the noise of a run). With ``realtime``, an
:class:`~phydnn.blocks.air_clock.air_clock` in front of the channel paces the samples to
``samp_rate`` like a radio's clock and stamps each batch's time on air (the latency log
needs it). ``segment_loss`` > 0 takes that fraction of the bursts (one segment each) off the
air at random (:class:`~phydnn.blocks.burst_eraser.burst_eraser`), as deep fades would.
"""

from __future__ import annotations

import secrets

import numpy as np
from gnuradio import channels, gr

from phydnn.blocks.air_clock import air_clock
from phydnn.blocks.burst_eraser import burst_eraser
from phydnn.errors import ConfigError, check_choice, check_non_negative
from phydnn.phy.profiles import LINK_FADING, PROFILE_NAMES, profile_paths, profile_taps

__all__ = ["FADING", "NOISE_POOL", "air_channel", "channel_sim", "noise_voltage"]

FADING = LINK_FADING
NOISE_POOL = 1 << 20   # Gaussian values in fastnoise_source_c's table (8 MB, drawn in 40 ms)
BUFFER = 1 << 16       # the channel's output buffer (items): larger work calls, fewer wake-ups
                       # (4096 items by default; 65536 took the offsets' rate from 20 to 32 M
                       # samples/s here)


def noise_voltage(snr_db: float) -> float:
    """Complex noise amplitude per sample for Es/N0 = ``snr_db`` with a unit-energy pulse."""
    return float(10.0 ** (-float(snr_db) / 20.0))


class channel_sim(gr.hier_block2):  # noqa: N801
    """AWGN at a given Es/N0, frequency and clock offsets, a fractional delay, multipath
    taps and optional flat fading."""

    def __init__(self, snr_db: float = 12.0, freq_offset: float = 0.0, clock_ppm: float = 0.0,
                 timing_offset: float = 0.0, taps: list[complex] | None = None,
                 fading: str = "none", doppler: float = 1e-4, k_factor: float = 4.0,
                 seed: int = 0, samp_rate: float = 20e6, realtime: bool = False,
                 segment_loss: float = 0.0, profile: str = "none") -> None:
        gr.hier_block2.__init__(self, "phydnn_channel_sim",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        check_choice("fading", fading, FADING)
        if not 0.0 <= float(timing_offset) < 1.0:
            raise ConfigError(f"timing_offset={timing_offset} is not allowed; it must be a "
                              f"fraction of a sample in [0, 1)")
        if not -60.0 <= float(snr_db) <= 100.0:
            raise ConfigError(f"snr_db={snr_db} is not allowed; Es/N0 must be in [-60, 100] dB")
        check_non_negative("doppler", doppler)
        check_choice("profile", profile, PROFILE_NAMES)
        if profile != "none" and taps and list(taps) != [1.0]:
            raise ConfigError(f"taps={list(taps)} and profile={profile!r} are not allowed "
                              f"together; give explicit taps or a named profile")
        block = fading.startswith("block-")
        if profile != "none" and (fading == "none" or block):   # static taps; else per path
            taps = profile_taps(profile, samp_rate).tolist()
        self.seed = int(seed) or secrets.randbelow(2 ** 31 - 1) + 1
        self.model = air_channel(snr_db, freq_offset, clock_ppm, timing_offset, taps,
                                 self.seed)
        chain = [self.model]
        if fading != "none" and profile != "none" and not block:
            delays, mags = profile_paths(profile, samp_rate)
            self.fader = channels.selective_fading_model(
                8, float(doppler), fading == "rician", float(k_factor), self.seed + 1,
                delays.tolist(), mags.tolist(), int(np.ceil(delays.max())) + 9)
            chain = [self.fader, self.model]
        elif fading != "none" and not block:
            self.fader = channels.fading_model(8, float(doppler), fading == "rician",
                                               float(k_factor), self.seed + 1)
            chain = [self.fader, self.model]
        if float(segment_loss) != 0.0 or block:
            # Python blocks, like the air clock: the owner keeps this block referenced
            self.eraser = burst_eraser(segment_loss, self.seed + 2,
                                       fading.removeprefix("block-") if block else "none",
                                       k_factor)
            chain = [self.eraser, *chain]
        if realtime:
            self.air = air_clock(samp_rate)
            chain = [self.air, *chain]
        self.connect(self, *chain, self)

    def set_snr_db(self, snr_db: float) -> None:
        self.model.set_noise_voltage(noise_voltage(snr_db))

    def set_freq_offset(self, freq_offset: float) -> None:
        self.model.set_phase_inc(2 * np.pi * float(freq_offset))


def air_channel(snr_db: float, freq_offset: float, clock_ppm: float, timing_offset: float,
                taps: list[complex] | None, seed: int) -> gr.basic_block:
    """What GNU Radio's channel_model does (its order: sample clock, taps, frequency, noise)
    in gr-phydnn's ``channel_cc`` (gr-phydnn/lib/channel_cc_impl.cc): the sample clock and
    the fractional delay from the MMSE interpolator that mmse_resampler_cc steps (its ratio
    1 + ``clock_ppm`` 1e-6, its first position ``timing_offset``), the taps in GNU Radio's
    FIR kernel, the frequency in its rotator, and the noise as fastnoise_source_c draws it
    (a table of :data:`NOISE_POOL` Gaussian values, where channel_model's has 16384, picked
    at random by xoroshiro128+), in one pass. Sample for sample what those GNU Radio blocks
    give chained (tests/qa_channel_sim.py), several times faster: chained, five blocks ran
    at 11-12 M samples/s with the demo's offsets here, under the 20 MS/s air (rates in the
    bench). The noise's Gaussianity, power and lack of repeats are tested there too."""
    from gnuradio.phydnn import channel_cc  # built by tools/setup (gr-phydnn/lib)

    block = channel_cc(noise_voltage(snr_db), 2 * np.pi * float(freq_offset),
                       1.0 + float(clock_ppm) * 1e-6, float(timing_offset),
                       [complex(t) for t in (taps or [1.0])], int(seed), NOISE_POOL)
    block.set_min_output_buffer(BUFFER)
    return block

"""Multipath power-delay profiles by name: the ITU-R M.1225 test channels, as taps at a sample
rate, for the Channel Simulator and every program that takes channel settings.

Source: Recommendation ITU-R M.1225, "Guidelines for evaluation of radio transmission
technologies for IMT-2000" (1997), Annex 2, Sec. 1.2.2, Table 3 (indoor office test
environment, channels A and B) and Table 4 (outdoor to indoor and pedestrian test
environment, channel A): relative delay (ns) and average power (dB) of each path.

A path at a delay that is not a whole number of samples is spread over the neighbouring
samples by a band-limited (sinc) interpolator, windowed over :data:`SPAN` samples, so the
taps are the profile as a radio sampling at ``samp_rate`` sees it; the taps are scaled to unit
energy, so the average received Es/N0 is the one asked for. With fading, each path gets its
own Rayleigh (or Rician: the first path) gain; GNU Radio's ``selective_fading_model`` takes
the delays in samples and the amplitudes directly (:func:`profile_paths`).
"""

from __future__ import annotations

import numpy as np

from phydnn.errors import ConfigError, check_positive

__all__ = ["LINK_FADING", "PROFILES", "PROFILE_NAMES", "profile_paths", "profile_taps"]

# name -> ((delay ns, power dB), ...)
PROFILES: dict[str, tuple[tuple[float, float], ...]] = {
    "itu-indoor-a": ((0, 0.0), (50, -3.0), (110, -10.0), (170, -18.0), (290, -26.0),
                     (310, -32.0)),
    "itu-indoor-b": ((0, 0.0), (100, -3.6), (200, -7.2), (300, -10.8), (500, -18.0),
                     (700, -25.2)),
    "itu-pedestrian-a": ((0, 0.0), (110, -9.7), (190, -19.2), (410, -22.8)),
}
PROFILE_NAMES = ("none", *PROFILES)
# the Channel Simulator's fading: continuous (GNU Radio's fading models, per path with a
# profile) or one gain per burst
LINK_FADING = ("none", "rayleigh", "rician", "block-rayleigh", "block-rician")
SPAN = 8   # samples of sinc either side of a fractional delay


def profile_paths(name: str, samp_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(delays in samples, amplitudes) of the profile's paths at ``samp_rate``, the
    amplitudes scaled to unit total power."""
    if name not in PROFILES:
        raise ConfigError(f"channel profile {name!r} is not known; choose one of: "
                          f"{', '.join(PROFILE_NAMES)}")
    check_positive("samp_rate", samp_rate)
    delays = np.array([d for d, _ in PROFILES[name]]) * 1e-9 * float(samp_rate)
    amps = 10.0 ** (np.array([p for _, p in PROFILES[name]]) / 20.0)
    return delays, amps / np.sqrt(np.sum(amps ** 2))


def profile_taps(name: str, samp_rate: float) -> np.ndarray:
    """Static taps (complex64, unit energy) of the profile at ``samp_rate``, its first path
    at sample 0 (a fractional path's sinc reaches :data:`SPAN` samples before it; those
    taps are cut, at most a few per mille of the energy)."""
    delays, amps = profile_paths(name, samp_rate)
    taps = np.zeros(int(np.ceil(delays.max())) + SPAN + 1)
    n = np.arange(len(taps))
    for d, a in zip(delays, amps, strict=True):
        if float(d).is_integer():
            taps[int(d)] += a
        else:
            taps += a * np.sinc(n - d) * np.hanning(2 * SPAN + 3)[
                np.clip(n - int(np.floor(d)) + SPAN + 1, 0, 2 * SPAN + 2)]
    taps = np.trim_zeros(taps, "b")
    return (taps / np.linalg.norm(taps)).astype(np.complex64)

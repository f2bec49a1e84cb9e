"""Physical layer in torch: M-PSK constellations and channel models (paper 003, Sec. III-A/B).

No GNU Radio here: the same constellation and SNR definition are used by the GNU Radio blocks.
"""

from phydnn.phy.channel import (
    AWGNChannel,
    ChannelChain,
    ChannelOutput,
    FadingChannel,
    PhaseOffset,
    add_awgn,
    complex_gaussian,
    snr_db_to_noise_var,
)
from phydnn.phy.channel_spec import CHANNEL_KINDS, ChannelSpec
from phydnn.phy.constellation import PSKConstellation, psk_points, psk_ser_theory

__all__ = [
    "AWGNChannel",
    "CHANNEL_KINDS",
    "ChannelChain",
    "ChannelOutput",
    "ChannelSpec",
    "FadingChannel",
    "PSKConstellation",
    "PhaseOffset",
    "add_awgn",
    "complex_gaussian",
    "psk_points",
    "psk_ser_theory",
    "snr_db_to_noise_var",
]

"""Airtime of TCP/IP traffic over IEEE 802.11a (the full-stack baselines of paper 003 Sec. IV-B).

The baselines send their features over TCP; this model turns the measured TCP segments into
time on a 20 MHz 802.11a channel, one MPDU per IP packet, no aggregation (802.11a has none),
no collisions, first-attempt backoff. Per MPDU (DCF, basic access):

    DIFS + mean backoff + TXTIME(data MPDU) + SIFS + TXTIME(MAC ACK)

Constants, with their source in IEEE Std 802.11-2016:
    T_PREAMBLE 16 us, T_SIGNAL 4 us, T_SYM 4 us, SERVICE 16 bits, tail 6 bits  (Table 17-21,
        17.3.2.4); TXTIME = T_PREAMBLE + T_SIGNAL + T_SYM * ceil((16 + 8 L + 6) / N_DBPS)
        (Eq. 17-29); N_DBPS per rate (Table 17-4)
    aSlotTime 9 us, aSIFSTime 16 us, aCWmin 15 (Table 17-21); DIFS = SIFS + 2 slots (10.3.2.3.7)
    mean backoff of the first attempt = aCWmin / 2 slots
    MAC header 24 bytes (3-address data frame, 9.3.2.1), FCS 4; LLC/SNAP 8 (IEEE 802.2 /
        RFC 1042); ACK frame 14 bytes (9.3.1.4) at the highest basic rate <= the data rate
        (6, 12 or 24 Mb/s; 10.7.6.5.2)
    IPv4 header 20 bytes, TCP header 20 + 12 of timestamp option (RFC 791, 793, 7323).

Rate for a given Es/N0 (:func:`rate_for_snr`): the highest rate whose receiver minimum
sensitivity (Table 17-18) is met at that SNR, with the thermal noise of 20 MHz
(-174 dBm/Hz + 73 dB), the noise figure 10 dB and implementation margin 5 dB that the
table assumes (17.3.10.2) taken out: i.e. required SNR = sensitivity + 101 - 10 - 5 dB.
No GNU Radio here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from phydnn.errors import ConfigError

__all__ = ["WIFI_RATES_MBPS", "WifiAirtime", "rate_for_snr", "required_snr_db"]

T_PREAMBLE_US, T_SIGNAL_US, T_SYM_US = 16.0, 4.0, 4.0
SERVICE_BITS, TAIL_BITS = 16, 6
SLOT_US, SIFS_US, CW_MIN = 9.0, 16.0, 15
DIFS_US = SIFS_US + 2 * SLOT_US
MAC_HEADER, FCS, LLC_SNAP, ACK_FRAME = 24, 4, 8, 14
IP_HEADER, TCP_HEADER, TCP_TIMESTAMPS = 20, 20, 12
N_DBPS = {6: 24, 9: 36, 12: 48, 18: 72, 24: 96, 36: 144, 48: 192, 54: 216}
WIFI_RATES_MBPS = tuple(N_DBPS)
BASIC_RATES = (6, 12, 24)
SENSITIVITY_DBM = {6: -82, 9: -81, 12: -79, 18: -77, 24: -74, 36: -70, 48: -66, 54: -65}
NOISE_20MHZ_DBM, NOISE_FIGURE_DB, IMPL_MARGIN_DB = -101.0, 10.0, 5.0


def required_snr_db(rate_mbps: int) -> float:
    """SNR at which 802.11a's minimum sensitivity for ``rate_mbps`` is met (see module doc)."""
    return SENSITIVITY_DBM[rate_mbps] - NOISE_20MHZ_DBM - NOISE_FIGURE_DB - IMPL_MARGIN_DB


def rate_for_snr(snr_db: float) -> int:
    """The highest 802.11a rate (Mb/s) usable at ``snr_db``; 6 below every threshold."""
    usable = [r for r in WIFI_RATES_MBPS if required_snr_db(r) <= snr_db]
    return max(usable) if usable else 6


@dataclass(frozen=True)
class WifiAirtime:
    """802.11a airtime of IP packets at ``rate_mbps`` (see the module docstring)."""

    rate_mbps: int = 24

    def __post_init__(self) -> None:
        if self.rate_mbps not in N_DBPS:
            raise ConfigError(f"rate_mbps={self.rate_mbps} is not allowed; 802.11a rates are "
                              f"{', '.join(map(str, WIFI_RATES_MBPS))} Mb/s")

    @staticmethod
    def txtime_us(psdu_bytes: int, rate_mbps: int) -> float:
        """PPDU duration of a PSDU of ``psdu_bytes`` (Eq. 17-29)."""
        symbols = math.ceil((SERVICE_BITS + 8 * psdu_bytes + TAIL_BITS) / N_DBPS[rate_mbps])
        return T_PREAMBLE_US + T_SIGNAL_US + T_SYM_US * symbols

    @property
    def ack_rate(self) -> int:
        return max(r for r in BASIC_RATES if r <= self.rate_mbps)

    def mpdu_us(self, ip_bytes: int) -> float:
        """Channel time of one IP packet: DIFS + backoff + data + SIFS + ACK."""
        psdu = MAC_HEADER + LLC_SNAP + ip_bytes + FCS
        backoff = CW_MIN / 2 * SLOT_US
        return (DIFS_US + backoff + self.txtime_us(psdu, self.rate_mbps) + SIFS_US
                + self.txtime_us(ACK_FRAME, self.ack_rate))

    def tcp_us(self, payload_bytes: int, data_segments: int, pure_acks: int,
               header_bytes: int = IP_HEADER + TCP_HEADER + TCP_TIMESTAMPS) -> float:
        """Airtime of ``payload_bytes`` carried in ``data_segments`` TCP segments (sizes as
        even as the count allows) plus ``pure_acks`` TCP acknowledgements the other way."""
        if data_segments <= 0:
            return pure_acks * self.mpdu_us(header_bytes)
        small, extra = divmod(payload_bytes, data_segments)
        data = (data_segments - extra) * self.mpdu_us(header_bytes + small) \
            + extra * self.mpdu_us(header_bytes + small + 1)
        return data + pure_acks * self.mpdu_us(header_bytes)

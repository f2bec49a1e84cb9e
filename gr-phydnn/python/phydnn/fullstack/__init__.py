"""Full-stack baselines of paper 003 Sec. IV-B: features over a real TCP socket, counted,
and their 802.11a airtime. No GNU Radio here."""

from phydnn.fullstack.tcp import TcpLink, TcpTransfer, tcp_info
from phydnn.fullstack.wifi import WIFI_RATES_MBPS, WifiAirtime, rate_for_snr, required_snr_db

__all__ = ["WIFI_RATES_MBPS", "TcpLink", "TcpTransfer", "WifiAirtime", "rate_for_snr",
           "required_snr_db", "tcp_info"]

"""Radio endpoints with a ``mode``: ``usrp`` (gr-uhd, B210 defaults) or ``loopback``.

:class:`radio_sink` (TX side, complex samples in): usrp -> uhd.usrp_sink in burst mode
(tx_sob / tx_eob from the framer); loopback -> the channel simulator, then a ZMQ PUSH sink
bound on 127.0.0.1 (or nothing after the channel when ``address`` is empty, for one-graph
loopback). :class:`radio_source` (RX side, complex samples out): usrp -> uhd.usrp_source;
loopback -> a ZMQ PULL source connected to the TX's address.

B210 defaults follow paper 003 Sec. IV-A: 2.4 GHz carrier, 20 MHz bandwidth (sample rate).
Without a UHD device, usrp mode stops at once with one message that suggests loopback.
"""

from __future__ import annotations

from gnuradio import blocks, gr, zeromq

from phydnn.blocks.channel_sim import channel_sim
from phydnn.errors import ConfigError, check_choice

__all__ = ["MODES", "radio_sink", "radio_source", "DEFAULT_ADDRESS"]

MODES = ("usrp", "loopback")
DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"


def _usrp_args(serial: str) -> str:
    return f"serial={serial}" if serial else ""


def _open_usrp(kind: str, serial: str, samp_rate: float, freq: float, gain: float,
               antenna: str):
    """A configured uhd.usrp_sink / usrp_source, or ConfigError naming the way out."""
    try:
        from gnuradio import uhd
    except ImportError as err:
        raise ConfigError("mode='usrp' needs gr-uhd (Debian package gnuradio, python3-uhd); "
                          "use mode='loopback' to run without a radio") from err
    stream = uhd.stream_args(cpu_format="fc32", channels=[0])
    try:
        dev = (uhd.usrp_sink if kind == "sink" else uhd.usrp_source)(_usrp_args(serial), stream)
    except RuntimeError as err:
        which = f" with serial {serial}" if serial else ""
        detail = " ".join(str(err).split())
        raise ConfigError(f"mode='usrp': no UHD device found{which} ({detail}); connect a B210 "
                          f"or use mode='loopback' to run over the channel simulator") from err
    dev.set_samp_rate(samp_rate)
    dev.set_center_freq(freq, 0)
    dev.set_gain(gain, 0)
    if antenna:
        dev.set_antenna(antenna, 0)
    return dev


class radio_sink(gr.hier_block2):  # noqa: N801
    """TX endpoint: USRP, or the loopback channel (then ZMQ to a separate RX process)."""

    def __init__(self, mode: str = "loopback", address: str = DEFAULT_ADDRESS,
                 samp_rate: float = 20e6, freq: float = 2.4e9, gain: float = 60.0,
                 serial: str = "", antenna: str = "TX/RX", amplitude: float = 0.5,
                 snr_db: float = 12.0, freq_offset: float = 0.0, clock_ppm: float = 0.0,
                 timing_offset: float = 0.0, seed: int = 0) -> None:
        gr.hier_block2.__init__(self, "phydnn_radio_sink",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        check_choice("mode", mode, MODES)
        self.mode = mode
        if mode == "usrp":
            self.scale = blocks.multiply_const_cc(amplitude)
            self.radio = _open_usrp("sink", serial, samp_rate, freq, gain, antenna)
            self.connect(self, self.scale, self.radio)
            return
        self.channel = channel_sim(snr_db, freq_offset, clock_ppm, timing_offset, seed=seed,
                                   samp_rate=samp_rate)
        self.radio = zeromq.push_sink(gr.sizeof_gr_complex, 1, address, 100, False, -1)
        self.connect(self, self.channel, self.radio)


class radio_source(gr.hier_block2):  # noqa: N801
    """RX endpoint: USRP, or the loopback ZMQ source fed by a radio_sink in loopback."""

    def __init__(self, mode: str = "loopback", address: str = DEFAULT_ADDRESS,
                 samp_rate: float = 20e6, freq: float = 2.4e9, gain: float = 40.0,
                 serial: str = "", antenna: str = "RX2") -> None:
        gr.hier_block2.__init__(self, "phydnn_radio_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        check_choice("mode", mode, MODES)
        self.mode = mode
        if mode == "usrp":
            self.radio = _open_usrp("source", serial, samp_rate, freq, gain, antenna)
        else:
            self.radio = zeromq.pull_source(gr.sizeof_gr_complex, 1, address, 100, False, -1)
        self.connect(self.radio, self)

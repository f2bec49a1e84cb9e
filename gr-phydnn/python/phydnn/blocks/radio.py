"""Radio endpoints with a ``mode``: ``usrp`` (gr-uhd, B210 defaults) or ``loopback``.

:class:`radio_sink` (TX side, complex samples in): usrp -> uhd.usrp_sink in burst mode
(tx_sob / tx_eob from the framer); loopback -> the channel simulator, then a ZMQ PUSH sink
bound on 127.0.0.1 (or nothing after the channel when ``address`` is empty, for one-graph
loopback). :class:`radio_source` (RX side, complex samples out): usrp -> uhd.usrp_source;
loopback -> a ZMQ PULL source connected to the TX's address.

B210 defaults follow paper 003 Sec. IV-A: 2.4 GHz carrier, 20 MHz bandwidth (sample rate).
Settings a B210 cannot do (sample rate above 61.44 MS/s, carrier outside 70 MHz - 6 GHz) are
refused before any device is opened; without a UHD device, usrp mode stops at once with one
message that suggests loopback. The TX counts the radio's asynchronous events (underflows,
late packets, sequence errors: gr-uhd's ``async_msgs`` port) and reports them when the
flowgraph stops; RX overflows reach the deframer as ``rx_time`` tags and the Tail RX summary.
"""

from __future__ import annotations

from collections import Counter

import pmt
from gnuradio import blocks, gr, zeromq

from phydnn.blocks.channel_sim import channel_sim
from phydnn.errors import ConfigError, check_choice

__all__ = ["MODES", "radio_sink", "radio_source", "uhd_events", "DEFAULT_ADDRESS"]

MODES = ("usrp", "loopback")
DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
B210_MAX_RATE = 61.44e6             # Ettus B210 data sheet: up to 61.44 MS/s (one channel)
B210_FREQ = (70e6, 6e9)             # and a 70 MHz - 6 GHz RF range
UHD_EVENTS = ("underflow_in_packet", "underflow", "seq_error_in_burst", "seq_error",
              "time_error", "burst_ack")


def check_b210(samp_rate: float, freq: float) -> None:
    """Refuse what a B210 cannot do, naming the setting (before a device is opened)."""
    if not 0 < float(samp_rate) <= B210_MAX_RATE:
        raise ConfigError(f"samp_rate={samp_rate:g} is not allowed for a USRP B210; it samples "
                          f"at more than 0 and up to {B210_MAX_RATE / 1e6:g} MS/s")
    if not B210_FREQ[0] <= float(freq) <= B210_FREQ[1]:
        raise ConfigError(f"freq={freq:g} is not allowed for a USRP B210; its carrier is "
                          f"{B210_FREQ[0] / 1e6:g} MHz to {B210_FREQ[1] / 1e9:g} GHz")


class uhd_events(gr.basic_block):  # noqa: N801
    """Counts gr-uhd's asynchronous TX events (message port ``async_msgs``) by kind and
    prints them when the flowgraph stops."""

    def __init__(self) -> None:
        gr.basic_block.__init__(self, name="phydnn_uhd_events", in_sig=None, out_sig=None)
        self.message_port_register_in(pmt.intern("async_msgs"))
        self.set_msg_handler(pmt.intern("async_msgs"), self._handle)
        self.counts: Counter[str] = Counter()

    def _handle(self, msg: pmt.pmt_t) -> None:
        text = pmt.write_string(msg)
        kind = next((k for k in UHD_EVENTS if k in text), "other")
        self.counts[kind] += 1

    def summary(self) -> str:
        shown = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items())) or "none"
        return f"phydnn TX radio events: {shown}"

    def stop(self) -> bool:
        print(self.summary(), flush=True)
        return super().stop()


def _usrp_args(serial: str) -> str:
    return f"serial={serial}" if serial else ""


def _open_usrp(kind: str, serial: str, samp_rate: float, freq: float, gain: float,
               antenna: str):
    """A configured uhd.usrp_sink / usrp_source, or ConfigError naming the way out."""
    check_b210(samp_rate, freq)
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
                 timing_offset: float = 0.0, seed: int = 0, profile: str = "none",
                 fading: str = "none", doppler: float = 1e-4,
                 taps: list[complex] | None = None) -> None:
        gr.hier_block2.__init__(self, "phydnn_radio_sink",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        check_choice("mode", mode, MODES)
        self.mode = mode
        if mode == "usrp":
            self.scale = blocks.multiply_const_cc(amplitude)
            self.radio = _open_usrp("sink", serial, samp_rate, freq, gain, antenna)
            self.events = uhd_events()
            self.connect(self, self.scale, self.radio)
            self.msg_connect(self.radio, "async_msgs", self.events, "async_msgs")
            return
        self.channel = channel_sim(snr_db, freq_offset, clock_ppm, timing_offset, taps,
                                   fading, doppler, seed=seed, samp_rate=samp_rate,
                                   profile=profile)
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

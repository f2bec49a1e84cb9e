"""PHY throughput: how many samples per second a receive chain sustains with no throttle.

Three chains, measured in the same run on the same machine (paper 003 asks for a PHY fast
enough for a 20 MHz B210; DESIGN.md quotes GNU Radio's stock figures):

* gr-phydnn's RX: the Deframer (symbol_timing_cc -> corr_est -> segment sync),
  fed with recorded loopback samples of real batches (12 dB, CFO, clock and timing offsets);
* GNU Radio's stock packet receiver: the hier block of the packet_rx example
  (/usr/share/gnuradio/examples/digital/packet/packet_rx.grc, compiled with grcc), QPSK
  payload, BPSK header, sps 2, fed with packet_tx's samples through channel_model;
* the bare chain chunks_to_symbols -> channel_model -> constellation_decoder (QPSK);
* the Deframer's stages on their own: the timing recovery (gr-phydnn's C++ symbol_timing_cc
  and GNU Radio's symbol_sync_cc), and timing + corr_est; what they leave of the whole
  chain's time is the Python segment sync;
* the loopback's channel: GNU Radio's channel_model against gr-phydnn's channel simulator
  (noise only, and with the demo's offsets), which a real-time loopback at 20 MS/s needs
  faster than the air.

Each receiver reads its samples from memory (vector_source) so only the receiver is timed;
the wall time runs from start until the flowgraph has drained its finite source. The stock
chain runs as its example ships it except for the FEC, which is the dummy (uncoded) one, as
gr-phydnn's payload is uncoded: the comparison is of the synchronisation and framing work.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phydnn.errors import PhyDNNError

__all__ = ["Throughput", "bare_chain", "phydnn_rx", "record_phydnn", "stock_packet_rx"]

STOCK_EXAMPLES = Path("/usr/share/gnuradio/examples/digital/packet")


@dataclass(frozen=True)
class Throughput:
    name: str
    samples: int
    seconds: float
    units: int                   # segments / packets / symbols out
    expected: int

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


def _run_to_end(tb) -> float:
    """Wall seconds of ``tb.run()``: the source is finite, the receiver drains it."""
    t0 = time.perf_counter()
    tb.run()
    return time.perf_counter() - t0


def record_phydnn(model: str, n_images: int, snr_db: float = 12.0) -> tuple[np.ndarray, int]:
    """Loopback samples of ``n_images`` test images (TX + channel), and their segment count."""
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim, dataset_source, framer, head_tx

    tb = gr.top_block()
    src = dataset_source("fashion-mnist", "test", 64, n_images)
    tx, fr = head_tx(model), framer(2, exit_when_done=False, on_last=lambda: None)
    ch = channel_sim(snr_db, 1e-3, 50.0, 0.37)
    sink = blocks.vector_sink_c()
    tb.msg_connect(src, "batches", tx, "images")
    tb.msg_connect(tx, "symbols", fr, "symbols")
    tb.connect(fr, ch, sink)
    tb.start()
    t0 = time.perf_counter()
    while fr.tagger._last_end is None or fr.tagger.samples < fr.tagger._last_end:
        if time.perf_counter() - t0 > 300:
            raise PhyDNNError("recording the loopback samples took over 300 s")
        time.sleep(0.05)
    time.sleep(0.2)
    tb.stop()
    tb.wait()
    return np.asarray(sink.data(), dtype=np.complex64), fr.builder.segments


def phydnn_rx(samples: np.ndarray, model: str, segments: int) -> Throughput:
    """gr-phydnn's Deframer on recorded samples, until every segment is out."""
    from gnuradio import blocks, gr

    from phydnn.blocks import deframer

    tb = gr.top_block()
    src = blocks.vector_source_c(samples.tolist(), False)
    rx = deframer(model)
    tb.connect(src, rx)
    seconds = _run_to_end(tb)
    return Throughput("gr-phydnn RX (deframer)", len(samples), seconds, rx.sync.segments,
                      segments)


def stage_rx(samples: np.ndarray, model: str, stage: str, timing: str = "phydnn"
             ) -> Throughput:
    """One stage of the Deframer's chain on its own, samples in (the stages' rates say where
    the chain's time goes): ``timing`` (the timing recovery: gr-phydnn's C++ block or GNU
    Radio's symbol_sync_cc) or ``timing+correlator`` (then corr_est on the symbols)."""
    from gnuradio import blocks, gr

    from phydnn.blocks import deframer

    tb = gr.top_block()
    src = blocks.vector_source_c(samples.tolist(), False)
    rx = deframer(model, timing=timing)
    chain = [src, rx.timing] + ([rx.detect] if stage == "timing+correlator" else [])
    tb.connect(*chain, blocks.null_sink(gr.sizeof_gr_complex))
    seconds = _run_to_end(tb)
    names = {"phydnn": "symbol_timing_cc (C++)", "gnuradio": "GNU Radio symbol_sync_cc"}
    return Throughput(f"stage: {stage}, {names[timing]}", len(samples), seconds, 0, 0)


def channel_rate(kind: str, samples: int = 20_000_000) -> Throughput:
    """The loopback's channel on its own (null source -> channel -> null sink): GNU Radio's
    ``channel_model`` with noise only, or gr-phydnn's channel simulator with noise only
    ("awgn") or with the demo's offsets (CFO 1e-3, 50 ppm, 0.37 sample: "offsets")."""
    from gnuradio import blocks, channels, gr

    from phydnn.blocks import channel_sim

    make = {"channel_model": lambda: channels.channel_model(0.25, 0.0, 1.0, [1.0], 3),
            "awgn": lambda: channel_sim(12.0, seed=3),
            "offsets": lambda: channel_sim(12.0, 1e-3, 50.0, 0.37, seed=3)}[kind]
    tb = gr.top_block()
    tb.connect(blocks.null_source(gr.sizeof_gr_complex),
               blocks.head(gr.sizeof_gr_complex, samples), make(),
               blocks.null_sink(gr.sizeof_gr_complex))
    seconds = _run_to_end(tb)
    names = {"channel_model": "channel: GNU Radio channel_model (noise only)",
             "awgn": "channel: gr-phydnn channel_sim (noise only)",
             "offsets": "channel: gr-phydnn channel_sim (CFO, clock, fractional delay)"}
    return Throughput(names[kind], samples, seconds, 0, 0)


def _stock_module(build: Path):
    """The stock packet_tx / packet_rx hier blocks, compiled with grcc into ``build``."""
    from phydnn.programs import compile_grc

    for name in ("packet_tx", "packet_rx"):   # from Debian's gnuradio package
        if not (build / f"{name}.py").exists():
            compile_grc(STOCK_EXAMPLES / f"{name}.grc", build)
    if str(build) not in sys.path:
        sys.path.insert(0, str(build))
    import packet_rx
    import packet_tx
    return packet_tx, packet_rx


def _stock_constellations():
    from gnuradio import digital
    hdr = digital.constellation_calcdist(digital.psk_2()[0], digital.psk_2()[1], 2, 1).base()
    pld = digital.constellation_calcdist(digital.psk_4()[0], digital.psk_4()[1], 4, 1).base()
    return hdr, pld


def stock_packet_rx(build: Path, packets: int = 2000, payload: int = 400,
                    snr_db: float = 12.0) -> Throughput:
    """GNU Radio's packet_rx example (QPSK payload, sps 2) on packet_tx's samples."""
    import pmt
    from gnuradio import blocks, channels, digital, fec, filter, gr

    from phydnn.blocks.pdu import make_pdu
    packet_tx, packet_rx = _stock_module(build)
    hdr, pld = _stock_constellations()
    sps, nfilts, eb = 2, 32, 0.22
    tx_taps = filter.firdes.root_raised_cosine(nfilts, nfilts, 1.0, eb, 5 * sps * nfilts)
    rx_taps = filter.firdes.root_raised_cosine(nfilts, nfilts * sps, 1.0, eb, 11 * sps * nfilts)
    rng = np.random.default_rng(1)
    tb = gr.top_block()
    fmt = digital.header_format_counter(digital.packet_utils.default_access_code, 3, 2)
    nbits = fmt.header_nbits()     # the header's FEC frame must be exactly one header
    tx = packet_tx.packet_tx(hdr_const=hdr, hdr_enc=fec.dummy_encoder_make(nbits),
                             hdr_format=fmt, pld_const=pld, psf_taps=tx_taps, sps=sps)
    chan = channels.channel_model(10 ** (-snr_db / 20), 0.0, 1.0, [1.0], 7)
    sink = blocks.vector_sink_c()
    tb.connect((tx, 0), chan, sink)
    for i in (1, 2):
        tb.connect((tx, i), blocks.null_sink(gr.sizeof_gr_complex))
    tb.start()
    crc = tx.digital_crc32_async_bb_1
    for _ in range(packets):
        crc._post(pmt.intern("in"), make_pdu({}, rng.integers(0, 256, payload, dtype=np.uint8)))
    stable, last = 0, -1
    while stable < 8:              # pdu_to_tagged_stream naps when its buffer fills
        time.sleep(0.25)
        n = len(sink.data())
        stable, last = (stable + 1, n) if n == last and n else (0, n)
    tb.stop()
    tb.wait()
    samples = np.asarray(sink.data(), dtype=np.complex64)
    tb = gr.top_block()
    src = blocks.vector_source_c(samples.tolist(), False)
    rx = packet_rx.packet_rx(eb=eb, hdr_const=hdr, hdr_dec=fec.dummy_decoder.make(nbits),
                             hdr_format=fmt, pld_const=pld, psf_taps=rx_taps, sps=sps)
    count = blocks.message_debug()
    tb.connect(src, rx)
    for i in range(5):
        tb.connect((rx, i), blocks.null_sink(gr.sizeof_gr_complex))
    tb.msg_connect(rx, "pkt out", count, "store")
    seconds = _run_to_end(tb)
    return Throughput("GNU Radio packet_rx (stock example)", len(samples), seconds,
                      count.num_messages(), packets)


def bare_chain(symbols: int = 20_000_000, snr_db: float = 12.0) -> Throughput:
    """chunks_to_symbols -> channel_model -> constellation_decoder, QPSK, one symbol each."""
    from gnuradio import blocks, channels, digital, gr
    rng = np.random.default_rng(2)
    data = rng.integers(0, 4, 1 << 16, dtype=np.uint8).tolist()
    const = digital.constellation_qpsk().base()
    tb = gr.top_block()
    src = blocks.vector_source_b(data, True)
    head = blocks.head(gr.sizeof_char, symbols)
    mod = digital.chunks_to_symbols_bc(const.points())
    chan = channels.channel_model(10 ** (-snr_db / 20), 0.0, 1.0, [1.0], 3)
    dec = digital.constellation_decoder_cb(const)
    sink = blocks.null_sink(gr.sizeof_char)
    tb.connect(src, head, mod, chan, dec, sink)
    t0 = time.perf_counter()
    tb.run()
    return Throughput("bare QPSK chain (chunks_to_symbols -> channel -> decoder)", symbols,
                      time.perf_counter() - t0, symbols, symbols)


def measure_all(model: str, images: int, packets: int, build: Path, snr_db: float = 12.0,
                repeats: int = 3) -> list[Throughput]:
    """Each chain ``repeats`` times, alternating, on the same recorded samples; the median
    run of each (so a background hiccup does not decide the ratio)."""
    samples, segments = record_phydnn(model, images, snr_db)
    runs: dict[str, list[Throughput]] = {}
    for _ in range(repeats):
        for r in (phydnn_rx(samples, model, segments),
                  stock_packet_rx(build, packets, snr_db=snr_db), bare_chain(),
                  stage_rx(samples, model, "timing"),
                  stage_rx(samples, model, "timing", "gnuradio"),
                  stage_rx(samples, model, "timing+correlator"),
                  *(channel_rate(kind) for kind in ("channel_model", "awgn", "offsets"))):
            runs.setdefault(r.name, []).append(r)
    return [sorted(rs, key=lambda r: r.rate)[len(rs) // 2] for rs in runs.values()]


def main(argv: list[str] | None = None) -> int:
    """``python -m phydnn.bench.throughput MODEL IMAGES PACKETS BUILD SNR``: JSON on stdout
    (run in a fresh process, away from the bench's torch threads)."""
    import json
    from dataclasses import asdict

    model, images, packets, build, snr = argv if argv is not None else sys.argv[1:]
    rows = measure_all(model, int(images), int(packets), Path(build), float(snr))
    print("THROUGHPUT " + json.dumps([{**asdict(r), "rate": r.rate} for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""qa for the GNU Radio link: framer -> channel simulator -> deframer -> tail RX, the
shipped flowgraphs (one graph, and TX / RX as two processes over ZMQ), and the radio
endpoints' refusals. Numbers are those of the link issues: accuracy within 1 point of the
torch path at 12 dB, >= 99 % segment delivery at 0 dB with CFO 1e-3 and 50 ppm (header v3),
>= 85 % at -3 dB (the closing note's larger run: 90 %), and the SNR estimate within 0.5 dB
from 0 to 20 dB."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_gnuradio, run_link

pytestmark = requires_gnuradio

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "fmnist_resnet20_phydnn_kd14ctx_m4")
FINGERPRINT = "0123456789abcdef"


BATCHES = 25     # of 64 images: 100 segments of 12544 symbols


def _send_random_batches(snr_db: float, batches: int = BATCHES, seed: int = 1,
                         freq_offset: float = 1e-3, clock_ppm: float = 50.0, **channel):
    """Random QPSK point indices as 64-image batches through framer -> channel -> deframer;
    returns (sent points per batch, received segment PDUs as (meta, data))."""
    from phydnn.phy.constellation import psk_points

    pts = psk_points(4).astype(np.complex64)
    rng = np.random.default_rng(seed)
    sent = {b: rng.integers(0, 4, 64 * 784).astype(np.uint8) for b in range(batches)}
    pdus = [({"batch_id": b, "n_images": 64, "M": 4, "bits_per_symbol": 2,
              "fingerprint": FINGERPRINT, "constellation": pts, "last": b == batches - 1},
             sent[b]) for b in range(batches)]
    return sent, run_link(pdus, snr_db, seed, MODEL, freq_offset, clock_ppm, timeout=60,
                          **channel)


def _payload_stats(sent: dict, pdus: list) -> dict:
    """Delivery, payload SER, the receiver's reported noise variance and the measured
    variance of (received - sent) over the delivered segments."""
    from phydnn.link.segment import DEFAULT_MAX_PAYLOAD, segment_layout
    from phydnn.phy.constellation import psk_points

    pts = psk_points(4)
    good = [(m, d) for m, d in pdus if "rejected" not in m]
    errors = total = 0
    err2 = []
    for meta, data in good:
        length = int(np.ceil(64 * 784 / meta["seg_count"]))
        ref = sent[meta["batch_id"]][meta["seg_index"] * length:][:meta["n_symbols"]]
        errors += int((np.argmin(np.abs(data[:, None] - pts[None]), 1) != ref).sum())
        err2.append(np.mean(np.abs(data - pts[ref]) ** 2))
        total += len(ref)
    expected = len(sent) * segment_layout(64 * 784, DEFAULT_MAX_PAYLOAD)[0]
    return {"delivery": len(good) / expected, "ser": errors / max(total, 1),
            "reported": float(np.mean([m["noise_var"] for m, _ in good])) if good else np.nan,
            "measured": float(np.mean(err2)) if err2 else np.nan}


@pytest.fixture(scope="module")
def sweep():
    """Delivery, payload SER and estimated SNR at several Es/N0 (100 segments each)."""
    table = {}
    for snr in (-3.0, 0.0, 3.0, 4.0, 6.0, 12.0, 20.0):
        sent, pdus = _send_random_batches(snr)
        stats = _payload_stats(sent, pdus)
        table[snr] = {**stats, "snr_est": float(-10 * np.log10(stats["reported"])),
                      "rejected": sum("rejected" in m for m, _ in pdus)}
    print("\nEs/N0  delivery  SER      est. SNR  rejected (CFO 1e-3, 50 ppm, 0.37 sample)")
    for snr, row in table.items():
        print(f"{snr:5.1f}  {row['delivery'] * 100:6.1f} %  {row['ser']:.2e}  "
              f"{row['snr_est']:6.2f} dB  {row['rejected']}")
    return table


def test_segment_delivery_at_0_db_with_frequency_and_clock_offsets(sweep):
    assert sweep[-3.0]["delivery"] >= 0.85
    assert sweep[0.0]["delivery"] >= 0.99
    assert all(sweep[s]["delivery"] == 1.0 for s in (6.0, 12.0, 20.0))


def test_payload_ser_after_gnu_radio_sync_is_near_theory(sweep):
    from phydnn.phy.constellation import psk_ser_theory

    for snr in (0.0, 6.0, 12.0):
        assert sweep[snr]["ser"] <= 1.5 * float(psk_ser_theory(4, snr)) + 2e-4
    assert sweep[0.0]["ser"] <= 1.08 * float(psk_ser_theory(4, 0.0))    # no phase slips


@pytest.mark.parametrize("snr", [0.0, 4.0, 12.0, 20.0])
def test_snr_estimated_from_the_received_constellation(sweep, snr):
    assert sweep[snr]["snr_est"] == pytest.approx(snr, abs=0.5)


def test_itu_indoor_b_is_equalised_and_its_snr_reported_after_the_equaliser():
    """ITU-R M.1225 indoor office B at 20 MS/s, sps 2 (paths up to 7 symbols late), 12 dB:
    every segment delivered, the payload SER within 1.5x of QPSK theory at the SNR the
    receiver reports, that SNR within 1 dB of the measured post-equaliser error; without the
    equaliser the same frames have many times the symbol errors."""
    from phydnn.phy.constellation import psk_ser_theory

    sent, pdus = _send_random_batches(12.0, batches=10, profile="itu-indoor-b",
                                      samp_rate=20e6)
    eq = _payload_stats(sent, pdus)
    sent, pdus = _send_random_batches(12.0, batches=10, profile="itu-indoor-b",
                                      samp_rate=20e6, equalise=False)
    raw = _payload_stats(sent, pdus)
    snr = -10 * np.log10(eq["reported"])
    print(f"\nindoor B, 12 dB: delivery {eq['delivery'] * 100:.1f} %, SER {eq['ser']:.2e} "
          f"(theory at the reported {snr:.2f} dB: {float(psk_ser_theory(4, snr)):.2e}), "
          f"measured post-equaliser SNR {-10 * np.log10(eq['measured']):.2f} dB; without the "
          f"equaliser: delivery {raw['delivery'] * 100:.1f} %, SER {raw['ser']:.2e}")
    assert eq["delivery"] >= 0.99
    assert abs(10 * np.log10(eq["reported"] / eq["measured"])) <= 1.0
    assert eq["ser"] <= 1.5 * float(psk_ser_theory(4, snr)) + 1e-4
    assert raw["ser"] >= 5 * eq["ser"]


def test_every_burst_after_a_long_silence_is_delivered_at_0_db():
    """30 single-segment batches (the framer's lead ramp and tail) with 50 000 symbols of
    silence between them, as a radio idles between bursts, at 0 dB with CFO 1e-3 and 50 ppm:
    every one delivered. In the silence the timing loop hears only noise and its average
    period walks; held to +-200 ppm the lead ramp pulls it back (at the former +-5000 ppm it
    reached 4500 ppm, and 1-2 headers in 20 failed their CRC)."""
    from gnuradio import blocks, filter, gr

    from conftest import poll
    from phydnn.blocks import channel_sim, deframer
    from phydnn.blocks.framer import BATCH_TAIL, rrc_taps
    from phydnn.blocks.pdu import split_pdu
    from phydnn.link.segment import LEAD_RAMP, frame_payload, segment_batch
    from phydnn.phy.constellation import psk_points

    pts, rng, frames, gap = psk_points(4).astype(np.complex64), np.random.default_rng(5), 30, 50_000
    bursts = []
    for b in range(frames):
        h, part = segment_batch(rng.integers(0, 4, 4096), b, 16, "0123abcd", 2, 16384)[0]
        bursts += [frame_payload(h, pts[part], BATCH_TAIL, LEAD_RAMP),
                   np.zeros(gap, np.complex64)]
    symbols = np.concatenate(bursts)
    tb = gr.top_block()
    de = deframer("", 2, status_interval_s=0)
    dbg = blocks.message_debug()
    tb.connect(blocks.vector_source_c(symbols.tolist()),
               filter.interp_fir_filter_ccf(2, rrc_taps(2, 0.35).tolist()),
               channel_sim(0.0, 1e-3, 50.0, 0.37, seed=6), de)
    tb.msg_connect(de, "segments", dbg, "store")
    tb.run()
    poll(lambda: de.sync.nitems_read(0) >= len(symbols) - gap, 60, "the last burst read")
    got = {split_pdu(dbg.get_message(i))[0].get("batch_id") for i in range(dbg.num_messages())}
    assert set(range(frames)) <= got, sorted(set(range(frames)) - got)


def test_loopback_flowgraph_matches_the_torch_path_at_12_db(capsys):
    """phydnn_loopback.grc on 2000 Fashion-MNIST test images, 12 dB, CFO, clock and timing
    offsets: every image gets a prediction within 1 point of the torch simulation path."""
    from phydnn.cli.__main__ import main
    from phydnn.cli.loopback import parse_summary

    rc = main(["loopback", "--images", "2000", "--snr", "12", "--compare"])
    out = capsys.readouterr().out
    assert rc == 0
    got = parse_summary(out)
    ref = float(out.split("torch simulation path")[1].split(": ")[1].split(" %")[0])
    assert got["images"] == 2000 and "(0 partial)" in out
    assert abs(got["accuracy"] - ref) <= 1.0, out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tx_and_rx_as_two_processes_over_zmq():
    from phydnn.cli import loopback as lb

    tx, rx = lb.compile_flowgraph("phydnn_tx"), lb.compile_flowgraph("phydnn_rx")
    address = f"tcp://127.0.0.1:{_free_port()}"
    common = ["--model", MODEL, "--n-images", "2000", "--address", address]
    env = lb.flowgraph_env()
    rx_p = subprocess.Popen([sys.executable, str(rx), *common], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    tx_p = subprocess.run([sys.executable, str(tx), *common, "--snr-db", "12"],
                          capture_output=True, text=True, env=env, timeout=120)
    out, _ = rx_p.communicate(timeout=120)
    assert tx_p.returncode == 0 and "phydnn TX summary" in tx_p.stdout, tx_p.stdout[-2000:]
    got = lb.parse_summary(out)
    assert got["images"] == 2000 and got["segments_lost"] == 0, out[-2000:]
    assert abs(got["accuracy"] - 100 * lb.torch_reference(MODEL, 2000, 12.0, "soft")) <= 1.0


def test_receiver_refuses_a_transmitter_with_another_model():
    from gnuradio import gr

    from phydnn.blocks import channel_sim, dataset_source, deframer, framer, head_tx, tail_rx

    other = str(ROOT / "models" / "fmnist_resnet20_phydnn_stage2_m4")
    tb = gr.top_block()
    src = dataset_source("fashion-mnist", "test", 64, 128)
    tx, fr = head_tx(MODEL), framer(2)
    rx = tail_rx(other, "soft", 0, idle_timeout_s=0)
    tb.msg_connect(src, "batches", tx, "images")
    tb.msg_connect(tx, "symbols", fr, "symbols")
    de = deframer(MODEL, 2)
    tb.connect(fr, channel_sim(20.0), de)
    tb.msg_connect(de, "segments", rx, "segments")
    tb.start()
    deadline = time.monotonic() + 30
    while rx.counts["rejected_wrong_model"] < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    tb.stop()
    tb.wait()
    assert rx.counts["rejected_wrong_model"] >= 8 and de.sync.segments >= 8
    assert rx.images == 0 and rx.counts["segments_ok"] == 0
    assert rx._warned == {"wrong_model"}          # one log line, however many segments
    assert "rejected" in rx.summary() and "wrong_model" in rx.summary()


def test_usrp_mode_without_a_device_suggests_loopback():
    from phydnn.blocks import radio_source
    from phydnn.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback"):
        radio_source("usrp")
    with pytest.raises(ConfigError, match="mode"):
        radio_source("wifi")


@pytest.mark.parametrize("program,argv,message", [
    ("phydnn_rx", ["--mode", "usrp"], "use mode='loopback'"),
    ("phydnn_rx", ["--mode", "wifi"], "mode='wifi' is not allowed"),
    ("phydnn_rx", ["--mode", "usrp", "--samp-rate", "100e6"],
     "samp_rate=1e+08 is not allowed for a USRP B210"),
    ("phydnn_tx", ["--mode", "usrp", "--freq", "10e9"], "freq=1e+10 is not allowed for a USRP"),
    ("phydnn_tx", ["--mode", "loopback", "--snr-db", "500"], "snr_db=500.0 is not allowed"),
    ("phydnn_tx", ["--mode", "loopback", "--profile", "itu-mars"],
     "profile='itu-mars' is not allowed"),
    ("phydnn_tx", ["--mode", "loopback", "--model", "/nonexistent"], "model card not found"),
])
def test_generated_programs_stop_with_one_message(program, argv, message):
    from phydnn.cli import loopback as lb

    script = lb.compile_flowgraph(program)
    if "--model" not in argv:
        argv = [*argv, "--model", MODEL]
    proc = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True,
                          env=lb.flowgraph_env(), timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("name", ["phydnn_tx", "phydnn_rx", "phydnn_loopback"])
def test_flowgraphs_compile_headless_and_take_their_settings(name, tmp_path):
    proc = subprocess.run(["grcc", "-o", str(tmp_path), str(ROOT / "flowgraphs" /
                                                            f"{name}.grc")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    helptext = subprocess.run([sys.executable, str(tmp_path / f"{name}.py"), "--help"],
                              capture_output=True, text=True).stdout
    for option in ("--model", "--n-images", "--samp-rate"):
        assert option in helptext
    assert ("--mode MODE" in helptext) == (name != "phydnn_loopback")
    assert "--snr-db" in helptext or name == "phydnn_rx"


@pytest.mark.parametrize("snr", [0.0, 12.0])
def test_channel_noise_per_sample_is_n0_for_the_unit_energy_pulse(snr):
    """Es/N0 calibration: with the framer's unit-energy pulse, Es = 1, so the complex noise
    variance per sample must be N0 = 10^(-snr/10) whatever sps is."""
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim

    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    tb.connect(blocks.vector_source_c([0j] * 200_000), channel_sim(snr, seed=5), sink)
    tb.run()
    noise = np.asarray(sink.data())
    assert np.mean(np.abs(noise) ** 2) == pytest.approx(10 ** (-snr / 10), rel=0.02)


def test_fading_channel_keeps_the_mean_power():
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim

    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    tb.connect(blocks.vector_source_c([1 + 0j] * 400_000),
               channel_sim(60.0, fading="rayleigh", doppler=1e-2, seed=3), sink)
    tb.run()
    power = np.abs(np.asarray(sink.data())[1000:]) ** 2
    assert np.mean(power) == pytest.approx(1.0, rel=0.15) and np.std(power) > 0.3


@pytest.mark.parametrize("fading,k", [("rayleigh", 0.0), ("rician", 4.0)])
def test_block_fading_holds_one_gain_per_burst_with_unit_mean_power(fading, k):
    """The channel simulator's block fading (burst_eraser): every sample of a tagged burst
    scaled by one gain, a new one each burst, E|h|^2 = 1 over 600 bursts (4 sigma), and the
    spread of |h|^2 that of Rayleigh (variance 1) or Rician K = 4 (variance (2K+1)/(K+1)^2 =
    0.36)."""
    import pmt
    from gnuradio import blocks, gr

    from phydnn.blocks import burst_eraser

    bursts, length = 600, 50
    tags = []
    for b in range(bursts):
        tags += [gr.tag_utils.python_to_tag((b * length, pmt.intern("tx_sob"), pmt.PMT_T)),
                 gr.tag_utils.python_to_tag((b * length + length - 1, pmt.intern("tx_eob"),
                                             pmt.PMT_T))]
    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    fader = burst_eraser(0.0, 7, fading, k)     # a Python block: kept referenced while it runs
    tb.connect(blocks.vector_source_c([1 + 0j] * (bursts * length), False, 1, tags), fader,
               sink)
    tb.run()
    h = np.asarray(sink.data()).reshape(bursts, length)
    assert np.allclose(h, h[:, :1], atol=1e-6)                 # one gain per burst
    power = np.abs(h[:, 0]) ** 2
    var = (2 * k + 1) / (k + 1) ** 2
    assert abs(power.mean() - 1.0) <= 4 * np.sqrt(var / bursts)
    assert power.var() == pytest.approx(var, rel=0.3)
    assert len(np.unique(np.round(h[:, 0], 6))) == bursts


def test_framer_tags_every_burst_for_uhd():
    from gnuradio import blocks, gr

    from phydnn.blocks import framer
    from phydnn.blocks.framer import FIRST_LEAD
    from phydnn.blocks.pdu import make_pdu
    from phydnn.link import HEADER_SYMBOLS, PREAMBLE
    from phydnn.link.segment import FRAME_PAD
    from phydnn.phy.constellation import psk_points

    tb = gr.top_block()
    done: list[int] = []
    fr = framer(4, 0.35, 1000, on_last=lambda: done.append(1))
    sink = blocks.vector_sink_c()
    tb.connect(fr, sink)
    tb.start()
    meta = {"batch_id": 9, "n_images": 3, "M": 4, "bits_per_symbol": 2,
            "fingerprint": FINGERPRINT, "constellation": psk_points(4).astype(np.complex64),
            "last": True}
    fr.builder._handle(make_pdu(meta, np.zeros(3 * 784, np.uint8)))
    deadline = time.monotonic() + 20
    while not done and time.monotonic() < deadline:
        time.sleep(0.02)
    tb.stop()
    tb.wait()
    tags = {}
    for t in sink.tags():
        tags.setdefault(str(t.key), []).append(t.offset)
    sob, eob = tags["tx_sob"], tags["tx_eob"]
    assert len(sob) == len(eob) == 3            # 2352 symbols in 3 segments of 784
    lengths = [e - s + 1 for s, e in zip(sob, eob, strict=True)]
    frame = len(PREAMBLE) + HEADER_SYMBOLS + 784 + FRAME_PAD
    # the run's first frame starts with the long lead ramp
    assert lengths[:2] == [4 * (frame + FIRST_LEAD), 4 * frame] and sob[1] == eob[0] + 1
    assert done and len(sink.data()) == eob[-1] + 1


def test_air_clock_paces_to_the_sample_rate_and_keeps_time_by_the_samples():
    """200 k samples at 1 MS/s take at least 0.2 s to pass; while they wait at its input, the
    clock times them by their count, however late its thread wakes: the batch's first to last
    sample on air is exactly its length / rate, and nothing is lost or reordered."""
    import pmt
    from gnuradio import blocks, gr

    from phydnn.blocks.air_clock import air_clock
    from phydnn.link.timeline import TIMELINE

    n, rate = 200_000, 1e6
    tags = [gr.tag_utils.python_to_tag((0, pmt.intern("batch_id"), pmt.from_long(77))),
            gr.tag_utils.python_to_tag((0, pmt.intern("tx_sob"), pmt.PMT_T)),
            gr.tag_utils.python_to_tag((n - 1, pmt.intern("tx_eob"), pmt.PMT_T))]
    data = (np.arange(n) % 1000).astype(np.complex64)
    tb = gr.top_block()
    sink = blocks.vector_sink_c()
    clock = air_clock(rate)          # a Python block: kept referenced while it runs
    tb.connect(blocks.vector_source_c(data.tolist(), False, 1, tags), clock, sink)
    t0 = time.monotonic()
    tb.run()
    assert time.monotonic() - t0 >= n / rate * 0.98
    np.testing.assert_array_equal(np.asarray(sink.data()), data)
    row = next(r for r in TIMELINE.rows() if r["batch_id"] == 77)
    assert row["air_end"] - row["air_start"] == pytest.approx(n / rate, abs=1e-4)  # epoch floats
    assert 0.0 <= row["air_lag"] < 0.2

"""Shared fixtures: deterministic seeds, small datasets, and GNU Radio availability."""

from __future__ import annotations

import importlib.util

import pytest
import torch

_THREADS = torch.get_num_threads()


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed, and leaves torch's thread count as it found it
    (training with ``threads`` sets it for the process)."""
    torch.manual_seed(1234)
    yield
    torch.set_num_threads(_THREADS)


@pytest.fixture(scope="session")
def digits_train():
    from phydnn.data import load_digits
    return load_digits("train")


@pytest.fixture(scope="session")
def digits_test():
    from phydnn.data import load_digits
    return load_digits("test")


def has_gnuradio() -> bool:
    return importlib.util.find_spec("gnuradio") is not None


requires_gnuradio = pytest.mark.skipif(not has_gnuradio(), reason="GNU Radio is not installed")


def poll(condition, timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds (checked every 10 ms); fail naming ``what`` after
    ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def read_lines(stream) -> list[str]:
    """The lines of ``stream`` (a subprocess pipe), appended to the returned list as they
    arrive by a reader thread, so that a test can :func:`poll` for an event in a program's
    output while the program runs."""
    import threading

    lines: list[str] = []

    def pump() -> None:
        for line in stream:
            lines.append(line)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def run_link(pdus: list, snr_db: float, seed: int, deframer_model: str = "",
             freq_offset: float = 1e-3, clock_ppm: float = 50.0, timeout: float = 120.0,
             equalise: bool = True, **channel):
    """(metadata, data) payload PDUs (the last flagged ``last``) through framer -> channel
    simulator (0.37 sample delay) -> deframer; returns the deframer's segment PDUs as
    (meta, data). Waits for events, not for a time: the last frame on air, the deframer past
    it (into the framer's flush tail), then every PDU it published at the sink."""
    from gnuradio import blocks, gr

    from phydnn.blocks import channel_sim, deframer, framer
    from phydnn.blocks.framer import FLUSH_SYMBOLS
    from phydnn.blocks.pdu import make_pdu, split_pdu
    from phydnn.link.segment import DEFAULT_MAX_PAYLOAD

    done: list[int] = []
    tb = gr.top_block()
    fr = framer(2, 0.35, DEFAULT_MAX_PAYLOAD, on_last=lambda: done.append(1))
    de = deframer(deframer_model, 2, status_interval_s=0)   # segment PDUs only
    de.sync.sync.equalise = equalise
    dbg = blocks.message_debug()
    tb.connect(fr, channel_sim(snr_db, freq_offset, clock_ppm, 0.37, seed=seed + 1, **channel),
               de)
    tb.msg_connect(de, "segments", dbg, "store")
    tb.start()
    for meta, data in pdus:
        fr.builder._handle(make_pdu(meta, data))
    poll(lambda: done, timeout, "the last frame on air")
    last = fr.tagger.samples / 2 - FLUSH_SYMBOLS / 2
    poll(lambda: de.sync.nitems_read(0) >= last, timeout, "the deframer past the last frame")
    sent = de.sync.segments + sum(de.sync.rejected.values())
    poll(lambda: dbg.num_messages() >= sent, timeout, "the deframer's PDUs at the sink")
    tb.stop()
    tb.wait()
    return [split_pdu(dbg.get_message(i)) for i in range(dbg.num_messages())]

"""qa for VL-VFE (paper 000) over the GNU Radio loopback: the transmitter's knowledge of the
channel (genie, the receiver's measurement fed back over the ZMQ return path, fixed) shows in
the active dimensions it sends, and the accuracy follows the torch path."""

from __future__ import annotations

import re

import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


@pytest.fixture(scope="module")
def vl_digits(tmp_path_factory) -> str:
    from phydnn.training.codec_train import CodecTrainConfig, train_codec

    out = tmp_path_factory.mktemp("vl") / "vl"
    train_codec(CodecTrainConfig(codec="vfe", dataset="digits", epochs=12, batch_size=64,
                                 lr=3e-3, beta=0.01, beta_warmup=2, val_images=300,
                                 val_snr=15.0, snr_low=10.0, snr_high=25.0, threads=1,
                                 arch={"dims": 16, "variable": 1}, out=str(out)))
    return str(out)


def _loopback(model: str, feedback: str, snr: float, capsys) -> tuple[dict, float, float]:
    from phydnn.cli.__main__ import main
    from phydnn.cli.loopback import parse_summary

    rc = main(["loopback", "--model", model, "--dataset", "digits", "--images", "640",
               "--snr", str(snr), "--feedback", feedback, "--interval-ms", "100",
               "--compare"])
    out = capsys.readouterr().out
    assert rc == 0, out
    summary = out[out.find("phydnn RX summary"):]
    per_image = float(re.search(r"analog symbols \(([\d.]+) per image\)", summary).group(1))
    ref = float(out.split("torch simulation path")[1].split(": ")[1].split(" %")[0])
    return parse_summary(out), per_image, ref


def test_vl_vfe_follows_the_channel_it_is_told_through_the_loopback(vl_digits, capsys):
    """At 25 dB: told nothing, the transmitter sends the dimensions of its 10 dB assumption;
    told by the genie, those of 25 dB; fed back the receiver's measurement, those of 25 dB
    once the first report is in (batches every 100 ms, as a camera's; the first leaves
    before any report: between the two). Every image is classified, and the accuracy is the
    torch path's within the noise."""
    from phydnn.codecs import load_transmitter

    net = load_transmitter(vl_digits).net
    k10, k25 = net.k(10.0), net.k(25.0)
    assert k10 > k25, (k10, k25)
    runs = {f: _loopback(vl_digits, f, 25.0, capsys) for f in ("fixed", "genie", "pilots")}
    sym = {f: per for f, (_, per, _) in runs.items()}
    assert sym["fixed"] == pytest.approx(-(-k10 // 2))
    assert sym["genie"] == pytest.approx(-(-k25 // 2))
    assert sym["genie"] <= sym["pilots"] <= sym["fixed"], sym
    if sym["fixed"] > sym["genie"]:    # k10 and k25 may share a symbol count (two per symbol)
        assert sym["pilots"] < sym["fixed"], sym
    for f, (got, _, ref) in runs.items():
        assert got["images"] == 640 and got["segments_lost"] == 0, f
        assert abs(got["accuracy"] - ref) <= 3.0, (f, got, ref)      # 640 images


@pytest.mark.parametrize("snr", [10.0, 15.0, 20.0, 25.0])
def test_received_features_carry_the_noise_variance_es_n0_implies(vl_digits, snr):
    """VL-VFE's values (told the Es/N0, 64-image batches) through framer -> channel (CFO
    1e-3, 50 ppm, 0.37 sample) -> deframer: the error variance of the received values is
    sigma^2 = 10^(-Es/N0/10) within 10 %, and so is the receiver's estimate."""
    import numpy as np
    from qa_codecs import received_values, send_payload

    from phydnn.codecs import load_transmitter
    from phydnn.data import load_digits

    tx = load_transmitter(vl_digits)
    tx.adapt(snr)
    images = np.concatenate([load_digits("test").images.numpy()] * 5)
    batches = [tx.encode(images[i:i + 64]).values for i in range(0, 64 * 24, 64)]
    meta = {"kind": "analog", "bits_per_symbol": 0, "pilot_spacing": 16, "codec_id": 5,
            "codec_field": int(batches[0].shape[1])}
    got = received_values(tx.spec, batches, send_payload(meta, batches, snr, seed=int(snr)))
    assert len(got) == len(batches)
    err = np.concatenate([(rx.values - ref.values).ravel() for _, rx, ref, _ in got])
    measured = float(np.mean(err ** 2))
    reported = float(np.mean([m["noise_var"] for m, *_ in got]))
    implied = 10 ** (-snr / 10)
    print(f"\n{snr:g} dB, k = {batches[0].shape[1]}: error variance / implied "
          f"{measured / implied:.3f}, reported / implied {reported / implied:.3f} "
          f"({err.size} values)")
    assert abs(measured / implied - 1) <= 0.10
    assert abs(reported / implied - 1) <= 0.10

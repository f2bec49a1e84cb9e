"""qa for the multi-exit encoder (paper 002) over the GNU Radio loopback: batches that mix
exits reach the server with their exit map, every image is classified by its own exit's
decoder, and the accuracy at each budget is the torch path's within the noise."""

from __future__ import annotations

import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory) -> str:
    from phydnn.training.codec_train import CodecTrainConfig, train_codec

    out = tmp_path_factory.mktemp("me") / "me"
    train_codec(CodecTrainConfig(codec="multiexit", dataset="digits", epochs=8, batch_size=64,
                                 val_images=400, val_snr=12.0, snr_low=0.0, snr_high=18.0,
                                 lr=3e-3, threads=1, out=str(out),
                                 arch={"first_layers": 2, "layers": 1, "last_layers": 1}))
    return str(out)


@pytest.mark.parametrize("exit_index", [1, 4])
def test_budgets_through_the_loopback_match_the_torch_path(digits_model, exit_index, capsys):
    """At 12 dB with the budget of exit 2 (mixed batches: an exit map in every batch) and of
    the last exit (one exit: the codec field alone), 640 digits: all classified, no segment
    lost, accuracy within 3 points of the torch path on the same images; the receiver counts
    the map's symbols (8 data symbols per image, more with a map)."""
    import re

    from phydnn.checkpoint import load_card
    from phydnn.cli.__main__ import main
    from phydnn.cli.loopback import parse_summary
    from phydnn.codecs.exitmap import map_columns

    budget = load_card(digits_model)["exit_macs"][exit_index]
    rc = main(["loopback", "--model", digits_model, "--dataset", "digits", "--images", "640",
               "--snr", "12", "--budget", str(budget), "--compare"])
    out = capsys.readouterr().out
    assert rc == 0, out
    got = parse_summary(out)
    ref = float(out.split("torch simulation path")[1].split(": ")[1].split(" %")[0])
    assert got["images"] == 640 and got["segments_lost"] == 0, got
    assert abs(got["accuracy"] - ref) <= 3.0, (got, ref)
    assert got["accuracy"] > 50.0, got
    summary = out[out.find("phydnn RX summary"):]
    per_image = float(re.search(r"analog symbols \(([\d.]+) per image\)", summary).group(1))
    mixed = 8 + -(-map_columns(64, 5) // 2)
    assert per_image == pytest.approx(mixed if exit_index == 1 else 8, abs=0.5), per_image


def test_a_budget_below_exit_1_is_refused_before_anything_runs(digits_model, capsys):
    from phydnn.checkpoint import load_card
    from phydnn.cli.__main__ import main

    low = load_card(digits_model)["exit_macs"][0] / 2
    rc = main(["loopback", "--model", digits_model, "--dataset", "digits", "--images", "64",
               "--snr", "12", "--budget", str(low)])
    err = capsys.readouterr().err
    assert rc != 0 and "budget" in err and "exit 1" in err, err

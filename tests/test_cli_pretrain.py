"""``phydnn pretrain`` / ``phydnn demo`` in-process: trains, writes a card, refuses bad input."""

from __future__ import annotations

import json

import pytest

from phydnn.cli.__main__ import main
from phydnn.models import load_backbone
from phydnn.training import accuracy


def test_pretrain_on_digits_learns_and_writes_a_bundle(tmp_path, digits_test, capsys):
    out = tmp_path / "digits_r20"
    rc = main(["pretrain", "--dataset", "digits", "--epochs", "6", "--batch-size", "64",
               "--lr", "0.05", "--out", str(out)])
    assert rc == 0
    card = json.loads((tmp_path / "digits_r20.json").read_text())
    assert card["command"].startswith("phydnn pretrain --dataset digits")
    assert card["test_images"] == 360 and card["dataset"] == "digits"
    rows = (tmp_path / "digits_r20.metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 7
    model, _ = load_backbone(out)
    acc = accuracy(model, digits_test)
    assert acc == pytest.approx(card["test_accuracy"], abs=1e-4)
    assert acc > 0.8  # chance is 0.1
    assert not list(tmp_path.glob("*.resume.*"))
    # a second run must not overwrite the model
    before = (tmp_path / "digits_r20.safetensors").read_bytes()
    assert main(["pretrain", "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert (tmp_path / "digits_r20.safetensors").read_bytes() == before


@pytest.mark.parametrize("argv,message", [
    (["--backbone", "resnet18"], "backbone='resnet18'"),
    (["--epochs", "-2"], "epochs=-2"),
    (["--dataset", "mnist"], "dataset='mnist'"),
])
def test_pretrain_bad_input_is_one_clear_error(tmp_path, capsys, argv, message):
    rc = main(["pretrain", "--out", str(tmp_path / "m"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_non_numeric_epochs_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--epochs", "many"])
    assert exc.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_demo_without_model_explains_how_to_make_one(tmp_path, capsys):
    assert main(["demo", "--model", str(tmp_path / "none")]) == 2
    assert "phydnn train --config" in capsys.readouterr().err
    assert main(["demo", "--checks", "--backbone", str(tmp_path / "none")]) == 2
    assert "phydnn pretrain" in capsys.readouterr().err
    assert main(["loopback", "--model", "models/fmnist_resnet20"]) == 2
    assert "not a PhyDNN bundle" in capsys.readouterr().err


def test_every_verbs_help_names_the_defaults():
    """`phydnn VERB --help` names the default of every option that has one (a value, not an
    off switch), whichever verb; `phydnn train`'s come from its config."""
    import argparse
    from dataclasses import fields

    from phydnn.cli.__main__ import setup_args
    from phydnn.training.config import FinetuneConfig

    configured = {f.name for f in fields(FinetuneConfig)}

    sub = next(a for a in setup_args()._actions if isinstance(a, argparse._SubParsersAction))
    for verb, parser in sub.choices.items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            from_config = verb == "train" and action.dest in configured
            if action.default in (None, False, []) and not from_config:
                continue
            shown = " ".join(" ".join(parser._get_formatter()._expand_help(action).split())
                             .split())
            assert "default" in shown, (verb, action.option_strings, shown)
            assert shown in text, (verb, action.option_strings)

"""``phydnn`` entry point: ``main(argv)`` parses, dispatches to a verb, maps errors to exit codes.

Verbs are modules of this package with ``add_parser(subparsers)`` and ``run(args) -> int``;
heavy imports (torch, GNU Radio) happen inside ``run`` so ``phydnn --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import textwrap
from collections.abc import Sequence

from phydnn import __version__
from phydnn.errors import PhyDNNError

VERBS = ("pretrain", "train", "train-codec", "export", "eval", "demo", "loopback", "bottlefit",
         "train-separation", "train-tosc", "bench")


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help names its default (unless it already does, or there is none to
    name: no value, an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or not action.option_strings or default is None or \
                default is False or default is argparse.SUPPRESS or default == [] or \
                isinstance(action, argparse._HelpAction):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list) else "%(default)s"
        return f"{text} (default: {shown})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        """Wrap at spaces only: a default path stays whole, to be copied."""
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def setup_args() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phydnn", description="gr-phydnn: DNNs that speak PSK at their split point.")
    parser.add_argument("--version", action="version", version=f"gr-phydnn {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        importlib.import_module(f"phydnn.cli.{verb.replace('-', '_')}").add_parser(sub)
    for verb_parser in sub.choices.values():
        verb_parser.formatter_class = DefaultsFormatter
        for action in verb_parser._actions:       # argparse prints no help line without help
            if action.help is None and action.option_strings:
                action.help = action.dest.replace("_", " ")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = setup_args().parse_args(argv)
    args.command_line = "phydnn " + shlex.join(argv)
    try:
        module = importlib.import_module(f"phydnn.cli.{args.verb.replace('-', '_')}")
        return int(module.run(args) or 0)
    except PhyDNNError as exc:
        print(f"phydnn {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"phydnn {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

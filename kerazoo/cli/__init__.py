"""The ``kerazoo`` command: argument parsing only; each verb calls one library function.

Each verb group lives in its own module under ``kerazoo/cli/`` and exposes ``register(subparsers)``, which adds its
sub-parser(s) and sets ``func`` (called with the parsed namespace; returns an exit code or None). Library errors
that are the user's doing (``ValueError``, ``FileNotFoundError``) print as one line, ``kerazoo: error: ...``, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kerazoo import runtime

# One line per verb module, in the order `kerazoo --help` lists them.
VERB_MODULES = [
    "kerazoo.cli.models",
    "kerazoo.cli.train",
    "kerazoo.cli.evaluate",
    "kerazoo.cli.predict",
    "kerazoo.cli.export",
    "kerazoo.cli.serve",
    "kerazoo.cli.optimize",
    "kerazoo.cli.doctor",
    "kerazoo.cli.search",
    "kerazoo.cli.rl",
    "kerazoo.cli.launch",
    "kerazoo.cli.runs",
    "kerazoo.cli.robustness",
    "kerazoo.cli.attack",
    "kerazoo.cli.visualize",
    "kerazoo.cli.style",
    "kerazoo.cli.generate",
    "kerazoo.cli.sequence",
    "kerazoo.cli.caption",
]


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerazoo",
        description="Keras model zoo and training service: train, evaluate, export and serve CS231n models.",
        formatter_class=_Formatter,
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for module in VERB_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def add_parser(subparsers, name: str, *, help: str, example: str) -> argparse.ArgumentParser:
    """A verb's sub-parser with the shared formatter and an example in its --help."""
    return subparsers.add_parser(
        name, help=help, description=f"{help}\n\nexample:\n  {example}", formatter_class=_Formatter
    )


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, except that FIELD=VALUE overrides may also follow the flags
    (`kerazoo train unet --out runs/u model.loss=dice`): argparse fills the positional list before it reaches the
    flags, so the trailing ones are collected here."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter (e.g. "no CUDA") is noise here
    parser = build_parser()
    args = parse(parser, argv)
    runtime.prefer_onednn(not getattr(args, "no_speed", False))  # before any verb loads TensorFlow
    try:
        code = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"kerazoo {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kerazoo: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())

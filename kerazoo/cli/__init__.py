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

# One line per verb module, in the order `kerazoo --help` lists them.
VERB_MODULES = [
    "kerazoo.cli.models",
    "kerazoo.cli.train",
    "kerazoo.cli.evaluate",
    "kerazoo.cli.export",
    "kerazoo.cli.serve",
    "kerazoo.cli.rl",
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


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter (e.g. "no CUDA") is noise here
    parser = build_parser()
    args = parser.parse_args(argv)
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

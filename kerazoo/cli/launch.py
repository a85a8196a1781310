"""`kerazoo launch`: run a training command as N local workers of a multi-worker cluster (TF_CONFIG on 127.0.0.1)."""

from __future__ import annotations

import argparse

from kerazoo.cli import add_parser
from kerazoo.cli.train import positive_int


def register(subparsers):
    p = add_parser(
        subparsers, "launch", help="start N local workers, each with its TF_CONFIG, and wait for them",
        example="kerazoo launch --workers 2 -- kerazoo train lenet5 --strategy multi_worker --out runs/mw",
    )
    p.add_argument("--workers", type=positive_int, required=True, help="number of worker processes")
    p.add_argument("--port-base", type=int, help="worker i listens on PORT_BASE + i (default: free ports)")
    p.add_argument("--wait", action="store_true", help="when a worker fails, let the others run on")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command every worker runs")
    p.set_defaults(func=run)


def run(args):
    from kerazoo.training.launch import launch

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return launch(command, args.workers, port_base=args.port_base, wait=args.wait)

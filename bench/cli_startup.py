"""How fast the ``kerazoo`` command answers: ``--help`` of every verb, and a misspelled model or dataset (time to
the one-line error), beside ``python -c "import tensorflow"`` measured in the same run on the same machine.

    python bench/cli_startup.py [--repeats 3]      # writes bench/results/cli_startup.json

Each figure is the median wall time of fresh processes (``python -m kerazoo ...``), the interpreter's start
included, so the baseline is the same kind of figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import write_results  # noqa: E402
from kerazoo.cli import build_parser  # noqa: E402

GOALS = {"help_s": 1.0, "mistake_s": 1.5}  # issue 38


def seconds(argv: list[str], repeats: int, *, expect: int) -> float:
    """Median wall time of ``repeats`` fresh processes running ``argv``; each must exit with ``expect``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {result.returncode}, not {expect}: {result.stderr[-500:]}")
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    kerazoo = [sys.executable, "-m", "kerazoo"]
    verbs = list(build_parser()._subparsers._group_actions[0].choices)
    import_tensorflow = seconds([sys.executable, "-c", "import tensorflow"], args.repeats, expect=0)
    helps = {verb or "kerazoo": seconds([*kerazoo, *([verb] if verb else []), "--help"], args.repeats, expect=0)
             for verb in ["", *verbs]}
    mistakes = {
        "train resnt20 (misspelled model)": seconds([*kerazoo, "train", "resnt20", "--out", "runs/x"], args.repeats,
                                                     expect=2),
        "train lenet5 --dataset fashon_mnist (misspelled dataset)": seconds(
            [*kerazoo, "train", "lenet5", "--dataset", "fashon_mnist", "--out", "runs/x"], args.repeats, expect=2),
        "models resnt20 (misspelled model)": seconds([*kerazoo, "models", "resnt20"], args.repeats, expect=2),
    }
    figures = {
        "seconds": "median wall time of a fresh process, interpreter start included",
        "repeats": args.repeats,
        "import_tensorflow_s": import_tensorflow,
        "help_s": helps,
        "help_max_s": max(helps.values()),
        "mistake_s": mistakes,
        "mistake_max_s": max(mistakes.values()),
        "goals_s": GOALS,
        "goals_met": max(helps.values()) < GOALS["help_s"] and max(mistakes.values()) < GOALS["mistake_s"],
    }
    path = write_results("cli_startup", figures)
    print(f"import tensorflow: {import_tensorflow:.2f} s; slowest --help: {figures['help_max_s']:.2f} s; "
          f"slowest mistake: {figures['mistake_max_s']:.2f} s -> {path}")


if __name__ == "__main__":
    main()

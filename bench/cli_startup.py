"""How fast the ``kerazoo`` command answers: ``--help`` of every verb, and a misspelled model or dataset (time to
the one-line error), beside ``python -c "import tensorflow"`` measured in the same run on the same machine.

    python bench/cli_startup.py [--repeats 3]      # writes bench/results/cli_startup.json

Each figure is the median wall time of fresh processes (``python -m kerazoo ...``), the interpreter's start
included, so the baseline is the same kind of figure; beside each wall time, the CPU time of the process, which other
jobs on a shared machine barely change.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import write_results  # noqa: E402
from kerazoo.cli import build_parser  # noqa: E402

GOALS = {"help_s": 1.0, "mistake_s": 1.5}  # issue 38


def seconds(argv: list[str], repeats: int, *, expect: int) -> dict:
    """Median wall time and CPU time (user + system) of ``repeats`` fresh processes running ``argv``; each must
    exit with ``expect``. CPU time hardly moves when other jobs share the cores; wall time does."""
    wall, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {result.returncode}, not {expect}: {result.stderr[-500:]}")
    return {"wall_s": round(statistics.median(wall), 3), "cpu_s": round(statistics.median(cpu), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)  # other jobs on the cores stretch every wall time
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
    slowest = {kind: {key: max(v[key] for v in group.values()) for key in ("wall_s", "cpu_s")}
               for kind, group in (("help", helps), ("mistake", mistakes))}
    figures = {
        "seconds": "median of fresh processes, interpreter start included: wall time and CPU time (user + system)",
        "load_average_1min": {"start": load_at_start, "end": round(os.getloadavg()[0], 2)},
        "repeats": args.repeats,
        "import_tensorflow": import_tensorflow,
        "help": helps,
        "mistake": mistakes,
        "slowest": slowest,
        "goals_s": GOALS,
        "goals_met_wall": slowest["help"]["wall_s"] < GOALS["help_s"] and slowest["mistake"]["wall_s"] < GOALS["mistake_s"],
    }
    path = write_results("cli_startup", figures)
    print(f"import tensorflow: {import_tensorflow}; slowest --help: {slowest['help']}; "
          f"slowest mistake: {slowest['mistake']} -> {path}")


if __name__ == "__main__":
    main()

"""What every benchmark writes: its figures plus when, where and how they were measured."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys

from kerazoo import runtime

runtime.prefer_onednn()  # benches train as the kerazoo command does; imported before TensorFlow for it to count


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def write_results(name: str, figures: dict) -> str:
    """Write ``bench/results/NAME.json`` with the date, machine and command line, and return its path."""
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        **figures,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    return out

"""Process-wide facts and settings, some of which must be made before TensorFlow loads (importing this never loads it).

oneDNN: TensorFlow 2.21 uses oneDNN's CPU kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX, and its
slower Eigen kernels elsewhere. On this project's AVX2 machine (2-core AMD EPYC) oneDNN trained ResNet-20 at 456
images/s against 333 without it (batch 128, op determinism on, one process each, 2026-11-24; docs/performance.md).
The losses stay equal within float rounding (tests/test_runtime.py). The ``kerazoo`` command turns it on
unless ``TF_ENABLE_ONEDNN_OPTS`` is already set or ``--no-speed`` is given; a program that imports kerazoo as a
library sets the variable itself before it imports TensorFlow.
"""

from __future__ import annotations

import math
import os
import sys

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(enable: bool = True) -> bool:
    """Ask TensorFlow for oneDNN's CPU kernels, unless the user set ``TF_ENABLE_ONEDNN_OPTS`` or TensorFlow has
    already loaded (then it is too late). Returns whether the variable was set here."""
    if not enable or ONEDNN_ENV in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ[ONEDNN_ENV] = "1"
    return True


def onednn_state() -> dict:
    """Whether this process's TensorFlow runs oneDNN kernels, and why (for a run's ``resolved.speed`` record)."""
    from tensorflow.python.util import _pywrap_util_port  # the flag TensorFlow itself reads

    enabled = bool(_pywrap_util_port.IsMklEnabled())
    value = os.environ.get(ONEDNN_ENV)
    reason = f"{ONEDNN_ENV}={value}" if value is not None else "TensorFlow's default for this CPU"
    return {"enabled": enabled, "reason": reason}


def usable_cores() -> int:
    """CPU cores this process may use: its affinity mask, capped by a cgroup v2 CPU quota (containers)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="utf-8") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)

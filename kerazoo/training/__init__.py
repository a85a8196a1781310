"""The training service: configs, strategies, callbacks and the run directory.

The names below load on first use (PEP 562), so ``kerazoo.training.config`` (YAML and dataclasses only) can check a
recipe before TensorFlow is imported: the CLI validates every name first and answers a mistake in well under a second.
"""

import importlib

# Public name -> the submodule that defines it.
_EXPORTS = {
    "DataConfig": "config", "ModelConfig": "config", "OptimizerConfig": "config", "ScheduleConfig": "config",
    "TrainConfig": "config", "apply_overrides": "config", "config_from_dict": "config", "dump_config": "config",
    "load_config": "config",
    "evaluate_model": "run", "load_run_config": "run", "load_run_info": "run", "load_run_model": "run", "train": "run",
    "make_strategy": "strategy",
    "Task": "tasks", "get_task": "tasks", "register_task": "tasks", "task_for_model": "tasks", "task_for_config": "tasks",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})

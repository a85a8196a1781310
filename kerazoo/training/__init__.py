"""The training service: configs, strategies, callbacks and the run directory."""

from kerazoo.training.config import (
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
)
from kerazoo.training.run import (
    evaluate_model,
    load_run_config,
    load_run_info,
    load_run_model,
    train,
)
from kerazoo.training.strategy import make_strategy
from kerazoo.training.tasks import Task, get_task, register_task, task_for_model

__all__ = [
    "DataConfig", "ModelConfig", "OptimizerConfig", "ScheduleConfig", "TrainConfig", "apply_overrides",
    "config_from_dict", "dump_config", "load_config", "evaluate_model", "load_run_config",
    "load_run_info", "load_run_model", "train", "make_strategy",
    "Task", "get_task", "register_task", "task_for_model",
]

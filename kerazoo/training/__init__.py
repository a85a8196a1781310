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
    build_classifier,
    evaluate_model,
    load_run_config,
    load_run_info,
    load_run_model,
    train,
)
from kerazoo.training.strategy import make_strategy

__all__ = [
    "DataConfig", "ModelConfig", "OptimizerConfig", "ScheduleConfig", "TrainConfig", "apply_overrides",
    "config_from_dict", "dump_config", "load_config", "build_classifier", "evaluate_model", "load_run_config",
    "load_run_info", "load_run_model", "train", "make_strategy",
]

"""Experiment configuration: typed dataclasses, YAML files and ``section.field=value`` overrides.

    config = load_config("configs/cifar_resnet20.yaml", overrides=["optimizer.lr=0.05", "epochs=3"])
    config = load_config("fashion_lenet5")   # a recipe shipped in the package (kerazoo/configs/), by name

Unknown fields and ill-typed values are errors that name the field. The resolved config is written to the run
directory as ``config.yaml`` and is all that later verbs need to rebuild the model and its data.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field

import yaml


@dataclass
class ModelConfig:
    name: str = "resnet20"
    """Registered model name (``kerazoo models`` lists them)."""
    kwargs: dict = field(default_factory=dict)
    """Extra builder arguments, e.g. ``{drop_path_rate: 0.1}`` or ``{alpha: 0.5}``."""
    input_size: typing.Union[int, list, None] = None
    """Classifiers: resize images to this side (or [height, width]) inside the model, before the network (e.g. 32
    for MobileNetV2, VGG or SqueezeNet, whose smallest input is 32, on 28x28 Fashion-MNIST); the model still takes
    the dataset's raw images. Dense heads on data of any image size (coco:DIR, voc:DIR, masks:DIR, tfds): the
    training resolution, images brought to it by ``data.resize`` (default 320x320)."""
    backbone_from: typing.Optional[str] = None
    """Dense heads: a classification run whose backbone weights start the head (transfer learning)."""
    backbone_weights: typing.Optional[str] = None
    """Dense heads: pretrained weights of the backbone (``imagenet``, a tag or a weights file; docs/pretrained.md); the
    model then takes raw pixels into the backbone's own preprocessing instead of the training split's normalization."""
    freeze_epochs: int = 0
    """Dense heads with backbone_from or backbone_weights: epochs the backbone stays frozen before it is fine-tuned."""
    finetune_lr_factor: float = 0.1
    """Dense heads: learning-rate multiplier once the backbone is unfrozen."""
    init_from: typing.Optional[str] = None
    """A run of the same model on data of the same shape whose best checkpoint starts every weight: train it further
    on this config's schedule, optimizer and data (e.g. a second cosine cycle at a lower learning rate)."""
    weights: typing.Optional[str] = None
    """Classifiers: start from pretrained weights (``imagenet``, a tag such as ``keras_in1k`` or ``tv_in1k``, or a
    weights file; docs/pretrained.md): the network without its head, its own preprocessing instead of the training
    split's normalization, and a new head for the dataset's classes, trained in the phases of ``transfer``."""
    loss: typing.Optional[str] = None
    """The training loss; default the task's own. Classifiers: any kerazoo.losses or keras.losses name
    (softmax_cross_entropy, multiclass_hinge, squared_hinge, ...; ``kerazoo.losses.get``); segmentation:
    cross_entropy_dice, cross_entropy, dice, soft_iou; localization: smooth_l1, l2; detection: focal, hard_negative."""
    loss_kwargs: dict = field(default_factory=dict)
    """Options of the loss, e.g. ``{margin: 2.0}``."""


@dataclass
class DataConfig:
    dataset: str = "fashion_mnist"
    data_dir: typing.Optional[str] = None
    train_split: typing.Optional[str] = None
    """null: the dataset's default (``HELD_OUT_SPLITS``): all of ``train`` but the validation part."""
    val_split: typing.Optional[str] = None
    """Held out from the training split, so "best" checkpoints never see the test set; "" for none. null: the
    dataset's default (``HELD_OUT_SPLITS``): the last 5,000 of the MNIST family's 60,000, else the last 10%."""
    test_split: str = "test"
    batch_size: int = 128
    """Global batch size (split evenly over the replicas)."""
    augment: list = field(default_factory=lambda: ["crop", "flip"])
    limit: typing.Optional[int] = None
    """Use only the first ``limit`` training examples (quick runs and tests)."""
    stream: bool = False
    """Generated datasets (fashion_mnist_scenes): train on new examples drawn without end instead of a fixed set, so
    no example is seen twice and memory stays constant however long the schedule; needs ``steps_per_epoch``. A resumed
    run goes on with the scenes after those of its backed-up epochs."""
    resize: str = "letterbox"
    """Dense heads on data of any image size: how images reach ``model.input_size``: letterbox (aspect ratio kept,
    padded) or stretch; boxes and masks move with them, predictions are mapped back to the original image."""
    stream_start: typing.Optional[int] = None
    """With ``stream``: the first training scene (the stream's scenes are numbered from 0). null: 0, or, with
    ``model.init_from``, the scene after the last one that run (and the runs it was started from) drew from the same
    seed's stream, so a further schedule trains on new scenes. Validation and test scenes never move."""


@dataclass
class OptimizerConfig:
    name: str = "sgd"
    """sgd, adam, adamw or rmsprop."""
    lr: float = 0.1
    """Learning rate at ``base_batch_size``; scaled linearly with the global batch size (Goyal et al., 2017)."""
    base_batch_size: int = 128
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    clipnorm: typing.Optional[float] = None
    label_smoothing: float = 0.0
    """Mix the one-hot targets with the uniform distribution (Szegedy et al., 2016); for losses that take it."""


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    """constant, step, cosine (per step, to zero at the last epoch) or sgdr (cosine with warm restarts)."""
    warmup_epochs: float = 0.0
    """Linear warm-up from 0 over this many epochs."""
    step_epochs: list = field(default_factory=lambda: [])
    """For ``step``: epochs at which the learning rate is multiplied by ``step_factor``."""
    step_factor: float = 0.1
    restart_epochs: float = 10.0
    """For ``sgdr``: length of the first cosine cycle in epochs (Loshchilov and Hutter, 2017)."""
    restart_mult: float = 1.0
    """For ``sgdr``: each cycle is this many times longer than the previous one."""
    snapshots: bool = False
    """For ``sgdr``: save ``checkpoints/snapshot_N.keras`` at the end of each cycle (snapshot ensembles)."""
    averaging: str = "none"
    """Weight averaging used for validation, checkpoints and the final model: none, ema or polyak."""
    ema_decay: float = 0.999
    """For ``averaging: ema``: the decay of the exponential moving average of the weights."""


@dataclass
class AdversarialConfig:
    method: str = "none"
    """none, fgsm (Goodfellow et al., 2015: clean/adversarial loss mix) or pgd (Madry et al., 2018)."""
    eps: float = 0.1
    """L-infinity budget as a fraction of the pixel range (0.1 = 25.5 grey levels on raw 0-255 pixels)."""
    steps: int = 7
    """PGD steps per training batch."""
    step_size: typing.Optional[float] = None
    """PGD step as a fraction of the pixel range; default 2.5 * eps / steps (Madry et al.)."""
    mix: typing.Optional[float] = None
    """Weight of the adversarial loss; the clean loss gets 1 - mix. Default: 0.5 for fgsm (Goodfellow et al.),
    1.0 for pgd (Madry et al.)."""


@dataclass
class DistillConfig:
    teacher: typing.Optional[str] = None
    """Run directory of a trained teacher (same classes); the model trains on its softened outputs and the labels
    (Hinton et al., 2015; kerazoo.optimize.distill). None: plain training."""
    temperature: float = 4.0
    """Softening temperature of teacher and student distributions."""
    alpha: float = 0.9
    """Weight of the soft (teacher) term; 1 - alpha weights the cross-entropy on the labels."""


@dataclass
class TransferConfig:
    """With ``model.weights``: first the new head alone, then the whole network (kerazoo.training.transfer)."""

    head_epochs: int = 1
    """Phase 1: epochs with every pretrained layer frozen (BatchNorm in inference mode); 0 trains all at once."""
    lr_factor: float = 0.1
    """Phase 2: the whole network trains at the schedule's learning rate times this."""
    dropout: float = 0.0
    """Dropout before the new head."""


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    epochs: int = 10
    steps_per_epoch: typing.Optional[int] = None
    """Cap the steps of each epoch (quick runs); default: the whole training split. Epochs go on through the data
    where the last stopped, so a split larger than one epoch gives every epoch new examples."""
    seed: int = 0
    strategy: str = "auto"
    """auto, default, one_device, mirrored, multi_worker or tpu (no parameter_server: Keras 3's fit cannot drive it)."""
    precision: str = "auto"
    """auto (mixed precision on GPUs with tensor cores, float32 elsewhere), float32, mixed_float16 or mixed_bfloat16."""
    jit_compile: typing.Union[bool, str] = "auto"
    """XLA compilation: true, false, or auto (on one GPU when a probe compiles the step; off on CPU, measured slower
    there; kerazoo.training.speed)."""
    steps_per_execution: typing.Union[int, str] = "auto"
    """Training steps per tf.function call; auto: up to 32 on a GPU to hide Python's per-step overhead, 1 on CPU
    (kerazoo.training.speed)."""
    fused_batch_norm: typing.Union[bool, str] = "auto"
    """Train BatchNormalization layers with TensorFlow's fused kernel: true, false, or auto (on when the model has
    some; kerazoo.training.speed)."""
    threads: typing.Union[int, str] = "auto"
    """Intra-op CPU threads: auto (the cores this process may use), 0 (TensorFlow's choice) or a count."""
    speed: bool = True
    """Resolve every ``auto`` speed setting to its fast choice; false gives the plain ones (``--no-speed``)."""
    deterministic: bool = True
    """Deterministic TensorFlow ops, so a seeded run repeats bit for bit on CPU."""
    task: typing.Optional[str] = None
    """The training task by name (``charrnn``, ``captioning``: tasks that build their own model from
    ``task_options``); null: the task of ``model.name``'s zoo entry."""
    task_options: dict = field(default_factory=dict)
    """The settings of ``task`` that the sections above do not hold (a char-RNN's cell and seq_len, a captioner's
    backbone and decoder); the task checks them."""


SECTIONS = {"model": ModelConfig, "data": DataConfig, "optimizer": OptimizerConfig, "schedule": ScheduleConfig,
            "adversarial": AdversarialConfig, "distill": DistillConfig, "transfer": TransferConfig}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _check_value(path: str, value, tp):
    """Return ``value`` converted to ``tp`` where that is lossless (int → float), else raise naming ``path``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _check_value(path, value, option)
            except ValueError:
                pass
        raise ValueError(f"Config field {path!r} must be {' or '.join(_type_name(a) for a in typing.get_args(tp))}; got {value!r}.")
    if tp is type(None):
        if value is None:
            return None
        raise ValueError(f"Config field {path!r} must be null; got {value!r}.")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and FLOAT_TEXT.match(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot in the mantissa) as a string
    if tp in (list, dict):
        if isinstance(value, tp):
            return value
        raise ValueError(f"Config field {path!r} must be a {tp.__name__}; got {value!r}.")
    if tp is bool and not isinstance(value, bool):
        raise ValueError(f"Config field {path!r} must be true or false; got {value!r}.")
    if tp in (int, str, float) and (not isinstance(value, tp) or isinstance(value, bool) and tp is not bool):
        raise ValueError(f"Config field {path!r} must be {tp.__name__}; got {value!r} ({type(value).__name__}).")
    return value


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise ValueError(f"Config section {prefix.rstrip('.') or 'top level'!r} must be a mapping; got {data!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f" Did you mean {', '.join(prefix + c for c in close)}?" if close else ""
            raise ValueError(f"Unknown config field {path!r}.{hint} Known fields: {', '.join(prefix + n for n in names)}.")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{path}.")
        else:
            kwargs[key] = _check_value(path, value, tp)
    return cls(**kwargs)


def config_from_dict(data: dict) -> TrainConfig:
    return validate(_build(TrainConfig, data or {}))


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a nested dict, returning a new dict."""
    data = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"Invalid override {item!r}: expected FIELD=VALUE, e.g. optimizer.lr=0.05.")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"Invalid override {item!r}: {key!r} is not a section.")
        node[keys[-1]] = yaml.safe_load(raw)
    return data


RECIPES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
"""The recipes shipped in the package (the checkout's ``configs/`` links here)."""


def recipe_names() -> list[str]:
    """The shipped recipes' names (``fashion_lenet5``, ...), sorted."""
    return sorted(f[:-5] for f in os.listdir(RECIPES_DIR) if f.endswith(".yaml"))


def recipe_path(name_or_path: str) -> str:
    """The YAML file ``name_or_path`` names: an existing file, else a shipped recipe by name (``fashion_lenet5``,
    ``fashion_lenet5.yaml`` or ``configs/fashion_lenet5.yaml``, so the documented paths work from any folder and
    from an installed wheel). Anything else is a FileNotFoundError listing the close recipe names."""
    if os.path.isfile(name_or_path):
        return name_or_path
    head, tail = os.path.split(name_or_path)
    stem = tail[:-5] if tail.endswith(".yaml") else tail
    if head in ("", "configs") and stem in recipe_names():
        return os.path.join(RECIPES_DIR, f"{stem}.yaml")
    close = difflib.get_close_matches(stem, recipe_names(), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise FileNotFoundError(f"Config {name_or_path!r} is neither a file nor a shipped recipe "
                            f"({', '.join(recipe_names())}).{hint}")


def read_yaml(path: str):
    """A YAML file's content; malformed YAML is a one-line ValueError naming the file, line and column."""
    with open(path, encoding="utf-8") as f:
        try:
            return yaml.safe_load(f)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"Malformed YAML in {path}{where}: {problem}.") from None


def load_config(path: str | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path`` (if any; a file or a shipped recipe's name, see
    :func:`recipe_path`), then the overrides."""
    data = read_yaml(recipe_path(path)) or {} if path else {}
    return config_from_dict(apply_overrides(data, list(overrides)))


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


HELD_OUT_SPLITS = {
    "fashion_mnist": ("train[:55000]", "train[55000:]"),
    "mnist": ("train[:55000]", "train[55000:]"),
    "fashion_mnist_scenes": ("train[:55000]", "train[55000:]"),  # slices of the Fashion-MNIST items scenes draw on
}
"""(train_split, val_split) that null splits resolve to, per dataset; any other dataset holds out its last 10%."""
DEFAULT_HELD_OUT_SPLITS = ("train[:90%]", "train[90%:]")


def _resolve_splits(data: DataConfig) -> None:
    # A fixed count suits only the 60,000-image MNIST family: 'train[55000:]' of digits (1,437 images) is empty.
    train_split, val_split = HELD_OUT_SPLITS.get(data.dataset, DEFAULT_HELD_OUT_SPLITS)
    if data.train_split is None:
        data.train_split = "train" if data.val_split == "" else train_split  # no validation: train on all
    if data.val_split is None:
        data.val_split = val_split


CHOICES = {
    "optimizer.name": ("sgd", "adam", "adamw", "rmsprop"),
    "schedule.name": ("constant", "step", "cosine", "sgdr"),
    "schedule.averaging": ("none", "ema", "polyak"),
    "strategy": ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu"),
    "precision": ("auto", "float32", "mixed_float16", "mixed_bfloat16"),
    "adversarial.method": ("none", "fgsm", "pgd"),
}


def validate(config: TrainConfig) -> TrainConfig:
    """Check values that types alone do not catch (every message names the field); resolve null splits."""
    _resolve_splits(config.data)
    values = {
        "optimizer.name": config.optimizer.name,
        "schedule.name": config.schedule.name,
        "schedule.averaging": config.schedule.averaging,
        "strategy": config.strategy,
        "precision": config.precision,
        "adversarial.method": config.adversarial.method,
    }
    if config.strategy == "parameter_server":
        from kerazoo.training.strategy import NO_PARAMETER_SERVER

        raise ValueError(f"Config field 'strategy': {NO_PARAMETER_SERVER}")
    for path, value in values.items():
        if value not in CHOICES[path]:
            raise ValueError(f"Config field {path!r} must be one of {', '.join(CHOICES[path])}; got {value!r}.")
    positive = {
        "epochs": config.epochs,
        "data.batch_size": config.data.batch_size,
        "optimizer.base_batch_size": config.optimizer.base_batch_size,
    }
    for path, value in positive.items():
        if value < 1:
            raise ValueError(f"Config field {path!r} must be >= 1; got {value!r}.")
    for path, value in {"steps_per_epoch": config.steps_per_epoch, "data.limit": config.data.limit}.items():
        if value is not None and value < 1:
            raise ValueError(f"Config field {path!r} must be >= 1 or null; got {value!r}.")
    if config.data.stream_start is not None and (not config.data.stream or config.data.stream_start < 0):
        raise ValueError(f"Config field 'data.stream_start' must be >= 0 or null, and set only with 'data.stream'; "
                         f"got {config.data.stream_start!r} with data.stream={config.data.stream!r}.")
    if config.data.stream:
        from kerazoo.datasets.scenes import NAME as SCENES

        if config.data.dataset != SCENES:
            raise ValueError(f"Config field 'data.stream' needs a generated dataset ({SCENES}); "
                             f"{config.data.dataset!r} is a fixed set.")
        if config.data.limit is not None or not config.steps_per_epoch:
            raise ValueError("Config field 'data.stream' draws examples without end: set 'steps_per_epoch' (the "
                             "length of an epoch) and leave 'data.limit' null.")
    if config.optimizer.lr <= 0:
        raise ValueError(f"Config field 'optimizer.lr' must be > 0; got {config.optimizer.lr!r}.")
    if not 0 < config.adversarial.eps <= 1:
        raise ValueError(
            f"Config field 'adversarial.eps' must be in (0, 1] (a fraction of the pixel range); got {config.adversarial.eps!r}."
        )
    if config.adversarial.mix is not None and not 0 <= config.adversarial.mix <= 1:
        raise ValueError(f"Config field 'adversarial.mix' must be in [0, 1] or null; got {config.adversarial.mix!r}.")
    if config.adversarial.steps < 1:
        raise ValueError(f"Config field 'adversarial.steps' must be >= 1; got {config.adversarial.steps!r}.")
    if config.distill.teacher is not None:
        from kerazoo.losses.distillation import check_distillation_options

        try:
            check_distillation_options(config.distill.temperature, config.distill.alpha)
        except ValueError as error:
            raise ValueError(f"Config section 'distill': {error}") from None
        if config.adversarial.method != "none":
            raise ValueError("Config fields 'distill.teacher' and 'adversarial.method' exclude each other: "
                             "train with one of distillation and adversarial training.")
    if config.transfer.head_epochs < 0:
        raise ValueError(f"Config field 'transfer.head_epochs' must be >= 0; got {config.transfer.head_epochs!r}.")
    if not 0 < config.transfer.lr_factor <= 1:
        raise ValueError(f"Config field 'transfer.lr_factor' must be in (0, 1]; got {config.transfer.lr_factor!r}.")
    if not 0 <= config.transfer.dropout < 1:
        raise ValueError(f"Config field 'transfer.dropout' must be in [0, 1); got {config.transfer.dropout!r}.")
    if config.model.weights is not None and config.model.init_from is not None:
        raise ValueError("Config fields 'model.weights' and 'model.init_from' exclude each other: init_from starts "
                         "every weight from a run already.")
    for path, value, least in (("steps_per_execution", config.steps_per_execution, 1), ("threads", config.threads, 0)):
        if value != "auto" and (isinstance(value, str) or value < least):
            raise ValueError(f"Config field {path!r} must be auto or an integer >= {least}; got {value!r}.")
    for path in ("jit_compile", "fused_batch_norm"):
        if getattr(config, path) not in (True, False, "auto"):
            raise ValueError(f"Config field {path!r} must be true, false or auto; got {getattr(config, path)!r}.")
    return config

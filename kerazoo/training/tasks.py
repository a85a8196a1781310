"""What ``train`` needs to know about one kind of model, so that one service trains every task.

A zoo entry's ``task`` field ("classification", "detection", "segmentation", "generative", ...) names a
:class:`Task`. Classification is defined here; each task package (``kerazoo.vision``, ``kerazoo.generative``, ...)
subclasses :class:`Task` and calls :func:`register_task` when it is imported. The registry imports those packages on
first use (see ``kerazoo.plugins.PACKAGES``), so ``get_task`` finds them without the training
service importing any task package itself.

The contract with ``train``:
    info = task.dataset_info(config)                      # written to dataset.json
    train_ds, val_ds = task.pipelines(config, replicas)    # tf.data of (inputs, targets)
    model = task.build(config, info)                       # what checkpoints hold and ``export`` serves
    trainer = task.trainer(model, config)                  # what ``fit`` runs (default: the model itself; adversarial
                                                           # training and distillation register theirs, see below)
    task.compile(trainer, config, optimizer)
    task.callbacks(model, config, run_dir)                 # the task's own (backbone fine-tuning, sample grids)
    task.evaluate(model, config, split=...)                # dict of figures, printed and kept in summary.json
"""

from __future__ import annotations

import difflib

import keras
import numpy as np

from kerazoo import datasets, plugins


class Task:
    """Supervised classification of raw-pixel images; the base every task package extends."""

    name = "classification"
    predicts_classes = True
    """Whether the model answers class logits for an image (``kerazoo predict`` prints its top classes)."""
    monitor = "val_accuracy"
    """Metric that picks ``checkpoints/best.keras`` (``mode`` says whether higher is better)."""
    mode = "max"

    def dataset_info(self, config) -> datasets.DatasetInfo:
        return datasets.info(config.data.dataset, data_dir=config.data.data_dir)

    def pipelines(self, config, replicas: int):
        """Training and validation ``tf.data`` pipelines (validation may be None)."""
        data = config.data
        if data.batch_size % replicas:
            raise ValueError(
                f"Config field 'data.batch_size' ({data.batch_size}) must be divisible by the {replicas} replicas."
            )
        train = datasets.load(
            data.dataset, data.train_split, data_dir=data.data_dir, batch_size=data.batch_size, augment=data.augment,
            seed=config.seed, limit=data.limit,
        )
        val = None
        if data.val_split:
            val = datasets.load(data.dataset, data.val_split, data_dir=data.data_dir, batch_size=data.batch_size)
        return train, val

    def build(self, config, info: datasets.DatasetInfo) -> keras.Model:
        """Raw pixels → normalization (the dataset's mean/std) → the zoo model → logits.

        Images are resized inside the model to ``model.input_size``, or, when that is null and they are smaller than
        the architecture's smallest input (digits' 8x8 for LeNet-5), to that smallest input. With ``model.weights``, the pretrained network (its own preprocessing) and a
        new head (kerazoo.training.transfer)."""
        from kerazoo.applications import create_model, get_entry

        kwargs = {k: v for k, v in config.model.kwargs.items() if k != "aux_classifiers"}  # heads: see trainer()

        if getattr(config.model, "weights", None):
            from kerazoo.training.transfer import build_transfer_model

            return build_transfer_model(config, info)

        inputs = keras.Input(shape=info.image_shape, name="images")
        x = normalize(inputs, info)
        size = config.model.input_size
        if not size and min(info.image_shape[:2]) < get_entry(config.model.name).min_input_size:
            size = get_entry(config.model.name).min_input_size
        if size:
            height, width = (size, size) if isinstance(size, int) else size
            x = keras.layers.Resizing(height, width, name="resize")(x)
        return create_model(
            config.model.name, input_tensor=x, classes=info.num_classes, classifier_activation=None, **kwargs,
        )

    def trainer(self, model: keras.Model, config) -> keras.Model:
        """The model ``fit`` runs: adversarial training (``config.adversarial``) or distillation from a teacher run
        (``config.distill``) wrap the classifier here, as do GoogLeNet's auxiliary classifiers
        (``model.kwargs.aux_classifiers``); checkpoints and exports keep ``model`` itself (no auxiliary heads)."""
        method = getattr(getattr(config, "adversarial", None), "method", "none")
        if config.model.kwargs.get("aux_classifiers"):
            from kerazoo.applications.inception import AUX_LOSS_WEIGHTS, auxiliary_heads

            if method != "none" or getattr(getattr(config, "distill", None), "teacher", None):
                raise ValueError("Config field 'model.kwargs.aux_classifiers' trains with the paper's auxiliary "
                                 "losses; it excludes 'adversarial.method' and 'distill.teacher'.")
            network = keras.Model(model.inputs, [model.output, *auxiliary_heads(model)], name=f"{model.name}_aux")
            return AuxiliaryClassifierTrainer(network, training_loss(config), AUX_LOSS_WEIGHTS)
        if method != "none":
            return get_trainer("adversarial")(model, config.adversarial)
        distill = getattr(config, "distill", None)
        if distill is not None and distill.teacher:
            return get_trainer("distill")(model, distill)
        return model

    def compile(self, trainer: keras.Model, config, optimizer) -> None:
        from kerazoo.training import transfer

        if transfer.uses_phases(config):  # phase 1: the head alone (TransferPhases unfreezes the rest)
            transfer.freeze_backbone(trainer, optimizer)
        trainer.compile(
            optimizer=optimizer,
            loss=training_loss(config),
            metrics=[keras.metrics.MeanMetricWrapper(label_accuracy, name="accuracy")],
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )

    def callbacks(self, model: keras.Model, config, run_dir: str) -> list:
        """The task's own callbacks, on every worker (e.g. backbone fine-tuning); ones that write files return
        nothing unless ``kerazoo.training.strategy.is_chief()``."""
        from kerazoo.training import transfer

        if transfer.uses_phases(config):
            return [transfer.TransferPhases(model, config.transfer.head_epochs)]
        return []

    def evaluate(self, model: keras.Model, config, *, split: str | None = None, limit: int | None = None) -> dict:
        """Loss and accuracy of a raw-pixel → logits model on a split (default: the config's test split)."""
        split = split or config.data.test_split
        ds = datasets.load(config.data.dataset, split, data_dir=config.data.data_dir,
                           batch_size=config.data.batch_size, limit=limit)
        loss, correct, count = 0.0, 0, 0
        xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
        for images, labels in ds:
            logits = model(images, training=False)
            loss += float(xent(labels, logits))
            correct += int((np.argmax(keras.ops.convert_to_numpy(logits), axis=-1) == np.asarray(labels)).sum())
            count += int(labels.shape[0])
        return {"split": split, "examples": count, "loss": loss / count, "accuracy": correct / count}


@keras.saving.register_keras_serializable(package="kerazoo")
def label_accuracy(y_true, y_pred):
    """Top-1 accuracy for integer labels and for soft targets (mixup batches give [batch, classes] targets; the
    validation batches of the same run give integer labels)."""
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] != 1:
        y_true = keras.ops.argmax(y_true, axis=-1)
    y_true = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
    return keras.ops.cast(keras.ops.equal(y_true, keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")), "float32")


class AuxiliaryClassifierTrainer(keras.Model):
    """Trains a network with outputs ``[main, aux1, aux2, ...]`` on loss(main) + Σ weight_i · loss(aux_i) (GoogLeNet:
    1, 0.3, 0.3), while predicting, validating and reporting metrics on the main output alone.

    Args:
        network: images → [main logits, auxiliary logits ...].
        loss: the loss of every output (the main one is also the compiled loss).
        aux_weights: one weight per auxiliary output.
    """

    def __init__(self, network, loss, aux_weights, **kwargs):
        super().__init__(name=kwargs.pop("name", "auxiliary_trainer"), **kwargs)
        if len(network.outputs) != 1 + len(aux_weights):
            raise ValueError(f"Invalid aux_weights: expected one per auxiliary output ({len(network.outputs) - 1}). "
                             f"Received: aux_weights={tuple(aux_weights)!r}")
        self.network, self.aux_loss, self.aux_weights = network, loss, tuple(float(w) for w in aux_weights)
        self._aux_logits = ()

    def call(self, images, training=False):
        main, *aux = self.network(images, training=training)
        self._aux_logits = tuple(aux)  # read by compute_loss in the same step (one forward pass)
        return main

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not training:  # validation loss is the main classifier's, the one inference uses
            return loss
        for weight, logits in zip(self.aux_weights, self._aux_logits):
            loss = loss + weight * self.aux_loss(y, logits, sample_weight=sample_weight)
        return loss


def training_loss(config):
    """A classifier's loss: ``model.loss`` (default softmax cross-entropy) with ``model.loss_kwargs`` and, when set,
    ``optimizer.label_smoothing``."""
    from kerazoo import losses

    options = dict(config.model.loss_kwargs)
    if config.optimizer.label_smoothing:
        options["label_smoothing"] = config.optimizer.label_smoothing
    return losses.get(config.model.loss or "softmax_cross_entropy", **options)


def normalize(inputs, info: datasets.DatasetInfo):
    """The model's first layer: raw 0-255 pixels → zero mean, unit variance per channel (the training split's)."""
    mean, std = info.mean, info.std
    return keras.layers.Rescaling(
        scale=[1.0 / (255.0 * s) for s in std], offset=[-m / s for m, s in zip(mean, std)], name="normalize"
    )(inputs)


_TASKS: dict[str, Task] = {"classification": Task()}


def register_task(task: Task) -> Task:
    """Make ``task`` the one that ``train`` uses for zoo entries whose ``task`` is ``task.name``."""
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    plugins.load_plugins()
    if name not in _TASKS:
        raise ValueError(f"No training task {name!r} is registered. Known tasks: {', '.join(sorted(_TASKS))}.")
    return _TASKS[name]


# Trainer factories ``(model, config section) -> keras.Model`` by name. The packages that own them (adversarial
# training, distillation) sit above the training service, so they register here and kerazoo.plugins.TRAINERS names
# the module to import on first use.
_TRAINERS: dict = {}


def register_trainer(name: str, factory):
    """Make ``factory(model, section)`` the trainer ``Task.trainer`` uses for ``name``; returns ``factory``."""
    _TRAINERS[name] = factory
    return factory


def get_trainer(name: str):
    """The trainer factory registered as ``name``, importing the module kerazoo.plugins.TRAINERS names for it."""
    if name not in _TRAINERS:
        plugins.load_trainer(name)
    if name not in _TRAINERS:
        close = difflib.get_close_matches(name, sorted({*_TRAINERS, *plugins.TRAINERS}), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"No trainer {name!r} is registered (kerazoo.plugins.TRAINERS lists "
                         f"{', '.join(sorted(plugins.TRAINERS))}).{hint}")
    return _TRAINERS[name]


def task_for_model(model_name: str) -> Task:
    from kerazoo.applications import get_entry

    return get_task(get_entry(model_name).task)


def task_for_config(config) -> Task:
    """The task that trains ``config``: ``config.task`` when set, else the task of ``model.name``'s zoo entry."""
    name = getattr(config, "task", None)
    if name:
        from kerazoo.applications.registry import load_plugins

        load_plugins()
        if name not in _TASKS:
            import difflib

            close = difflib.get_close_matches(name, list(_TASKS), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Config field 'task' names no registered task: {name!r}.{hint} Known tasks: "
                             f"{', '.join(sorted(_TASKS))}.")
        return _TASKS[name]
    return task_for_model(config.model.name)

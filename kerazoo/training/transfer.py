"""Transfer learning from pretrained weights: ``model.weights`` (``kerazoo train resnet50 --weights imagenet``).

The classifier is the pretrained network without its head (``include_top=False, pooling="avg"``), whose first
layer is the weights' own preprocessing (so the training split's normalization is not used), and a new Dense
``predictions`` for the dataset's classes. Grey images are repeated to three channels (``to_rgb``) and
``model.input_size`` resizes them inside the model, as for any model. Training has two phases (``transfer``):

1. ``transfer.head_epochs`` epochs with every layer but the head frozen. Frozen BatchNormalization layers run in
   inference mode (Keras 3 does so for non-trainable ones), so their statistics stay the pretrained ones.
2. The rest of the epochs with the whole network trainable, at the schedule's learning rate times
   ``transfer.lr_factor`` (one rate for all variables: Keras optimizers have no per-variable rates).

The phases are a function of the epoch, so an interrupted run resumes in the right one.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["HEAD_LAYERS", "build_transfer_model", "freeze_backbone", "set_backbone_trainable", "TransferPhases",
           "PhasedSchedule", "uses_phases"]

HEAD_LAYERS = ("head_dropout", "predictions")


def uses_phases(config) -> bool:
    return bool(getattr(config.model, "weights", None)) and config.transfer.head_epochs > 0


def build_transfer_model(config, info) -> keras.Model:
    """Raw pixels → [to_rgb] → [resize] → the pretrained network (its preprocessing first) → new head → logits."""
    from kerazoo.applications import create_model

    inputs = keras.Input(shape=info.image_shape, name="images")
    x = inputs
    if info.image_shape[-1] == 1:
        x = keras.layers.Concatenate(name="to_rgb")([x, x, x])
    if config.model.input_size:
        x = keras.layers.Resizing(config.model.input_size, config.model.input_size, name="resize")(x)
    backbone = create_model(config.model.name, weights=config.model.weights, input_tensor=x, include_top=False,
                            pooling="avg", **config.model.kwargs)
    x = backbone.output
    if config.transfer.dropout:
        x = keras.layers.Dropout(config.transfer.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(info.num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=backbone.name)


def _backbone_layers(model):
    """The layers that hold weights, outside the head (leaves only: freezing a container would freeze the head)."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.name not in HEAD_LAYERS and layer.weights and not list(layer._flatten_layers(include_self=False)):
            yield layer


def set_backbone_trainable(model, trainable: bool) -> None:
    for layer in _backbone_layers(model):
        layer.trainable = trainable


def freeze_backbone(trainer, optimizer) -> None:
    """Phase 1: build the optimizer's slots for every variable first (phase 2 trains them), then freeze."""
    optimizer.build(trainer.trainable_variables)
    set_backbone_trainable(trainer, False)


class TransferPhases(keras.callbacks.Callback):
    """Unfreezes the backbone of ``classifier`` at epoch ``head_epochs`` (phase 2) and rebuilds the train step."""

    def __init__(self, classifier, head_epochs: int):
        super().__init__()
        self.classifier, self.head_epochs = classifier, head_epochs

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < self.head_epochs or all(layer.trainable for layer in _backbone_layers(self.classifier)):
            return
        set_backbone_trainable(self.classifier, True)
        self.model.make_train_function(force=True)


@keras.saving.register_keras_serializable(package="kerazoo")
class PhasedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step)`` before ``switch_step`` (phase 1, the head alone), ``schedule(step) * factor`` after."""

    def __init__(self, schedule, switch_step: int, factor: float):
        self.schedule, self.switch_step, self.factor = schedule, int(switch_step), float(factor)

    def __call__(self, step):
        scale = ops.where(ops.cast(step, "float32") < float(self.switch_step), 1.0, self.factor)
        return self.schedule(step) * scale

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "switch_step": self.switch_step,
                "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["switch_step"], config["factor"])

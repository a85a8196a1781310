"""The Keras 3 ↔ tf_keras bridge that tensorflow-model-optimization needs.

tfmot 0.8.1 only accepts tf_keras (Keras 2) models (tensorflow/model-optimization#1119), while every kerazoo model is
Keras 3. Rather than forking the zoo builders, :func:`to_tf_keras` rebuilds any functional Keras 3 model layer by
layer from its ``get_config`` (same layer names, same topology), copies the weights and checks that both give the same
outputs. :func:`to_keras` goes back after tfmot's ``strip_pruning``/``strip_clustering`` by copying the weights, layer
by layer, into a clone of the Keras 3 model the tf_keras one came from.

kerazoo's own layers map to tf_keras twins registered in ``TF_KERAS_TWINS``; any other custom layer is refused with
its name, so a new layer needs one twin here and nothing else.
"""

from __future__ import annotations

import inspect
import warnings

import keras
import numpy as np

from kerazoo.optimize.graph import rebuild_graph, unwrap

PARITY_TOLERANCE = 1e-5
"""Max |output difference| between the two models, relative to max(1, max |output|)."""


def _tf_keras():
    import tf_keras

    return tf_keras


def _zero_pad_shortcut_twin():
    """tf_keras twin of :class:`kerazoo.layers.ZeroPadShortcut` (same config, same computation)."""
    import tensorflow as tf

    tf_keras = _tf_keras()

    class ZeroPadShortcut(tf_keras.layers.Layer):
        def __init__(self, filters, stride=1, **kwargs):
            super().__init__(**kwargs)
            self.filters, self.stride = int(filters), int(stride)

        def call(self, inputs):
            x = inputs[:, :: self.stride, :: self.stride, :]
            extra = self.filters - inputs.shape[-1]
            return tf.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]]) if extra else x

        def get_config(self):
            return {**super().get_config(), "filters": self.filters, "stride": self.stride}

    return ZeroPadShortcut


TF_KERAS_TWINS = {
    "kerazoo>ZeroPadShortcut": _zero_pad_shortcut_twin,
    "kerazoo>GroupedConv2D": lambda: _tf_keras().layers.Conv2D,  # the same layer as Conv2D(groups=...)
}
"""Registered name of a kerazoo layer → a function returning its tf_keras twin class."""

_twin_classes: dict = {}


def _tf_keras_class(layer):
    """The tf_keras class that rebuilds ``layer``: the same-named standard layer, or a registered twin."""
    cls = type(layer)
    if cls.__module__.startswith("keras."):
        tf_cls = getattr(_tf_keras().layers, cls.__name__, None)
        if tf_cls is not None:
            return tf_cls
    registered = keras.saving.get_registered_name(cls)
    if registered in TF_KERAS_TWINS:
        if registered not in _twin_classes:
            _twin_classes[registered] = TF_KERAS_TWINS[registered]()
        return _twin_classes[registered]
    raise ValueError(
        f"Layer {layer.name!r} ({registered}) has no tf_keras twin, so tfmot cannot handle this model. Supported: "
        f"standard keras.layers and {', '.join(sorted(TF_KERAS_TWINS))}; add a twin to "
        "kerazoo.optimize.bridge.TF_KERAS_TWINS."
    )


def _accepted_arguments(cls) -> set:
    names = {"name", "trainable", "dtype", "dynamic", "input_shape", "batch_input_shape", "batch_size",
             "activity_regularizer", "autocast"}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= set(inspect.signature(init).parameters)
    return names


def _tf_keras_object(kind: str, value, layer_name: str, key: str):
    """A serialized Keras 3 regularizer/constraint → the tf_keras one (same class name and config)."""
    if value is None or isinstance(value, str):
        return value
    module = getattr(_tf_keras(), kind)
    try:
        return module.deserialize({"class_name": value["class_name"], "config": value["config"]})
    except Exception as error:
        raise ValueError(f"Layer {layer_name!r}: cannot translate {key}={value!r} to tf_keras ({error}).") from None


def tf_keras_config(layer, tf_cls) -> dict:
    """``layer.get_config()`` translated to what ``tf_cls`` accepts.

    Initializers are dropped (the weights are copied anyway); regularizers and constraints are translated; an
    argument tf_keras does not know is dropped if it is off (None/False/0), else refused with its name.
    """
    config = dict(layer.get_config())
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        config["dtype"] = dtype.get("config", {}).get("name", "float32")
    accepted = _accepted_arguments(tf_cls)
    for key in list(config):
        if key.endswith("_initializer"):
            del config[key]
        elif key.endswith("_regularizer"):
            config[key] = _tf_keras_object("regularizers", config[key], layer.name, key)
        elif key.endswith("_constraint"):
            config[key] = _tf_keras_object("constraints", config[key], layer.name, key)
        elif key not in accepted:
            if config[key]:
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) uses {key}={config[key]!r}, which tf_keras "
                    "does not support."
                )
            del config[key]
    return config


def _probe_inputs(model, sample, seed: int = 0) -> list:
    if sample is not None:
        return [np.asarray(s, np.float32) for s in (sample if isinstance(sample, (list, tuple)) else [sample])]
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 255, size=(4, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def max_output_difference(model_a, model_b, sample=None) -> float:
    """Max |output difference| of two models on ``sample`` (default: 4 random raw-pixel inputs), relative to
    max(1, max |output of model_a|)."""
    inputs = _probe_inputs(model_a, sample)
    with warnings.catch_warnings():  # Keras 3 warns when a one-input model built from [input] gets a bare tensor
        warnings.simplefilter("ignore", UserWarning)
        outs_a = [np.asarray(o) for o in _listify(model_a(unwrap(inputs), training=False))]
        outs_b = [np.asarray(o) for o in _listify(model_b(unwrap(inputs), training=False))]
    scale = max(1.0, max(float(np.max(np.abs(a))) for a in outs_a))
    return max(float(np.max(np.abs(a - b))) for a, b in zip(outs_a, outs_b)) / scale


def _listify(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_parity(source, target, sample, direction: str) -> None:
    difference = max_output_difference(source, target, sample)
    if difference > PARITY_TOLERANCE:
        raise ValueError(
            f"The {direction} bridge changed the outputs of {source.name!r}: max |difference| {difference:.3g} "
            f"(relative) > {PARITY_TOLERANCE}."
        )


def copy_weights(source, target) -> None:
    """Copy every layer's weights from ``source`` to the same-named layer of ``target`` (either framework)."""
    for layer in source.layers:
        weights = layer.get_weights()
        if weights:
            target.get_layer(layer.name).set_weights(weights)


def to_tf_keras(model, sample=None, check: bool = True):
    """Rebuild a functional Keras 3 ``model`` in tf_keras with the same layer names, topology and weights.

    Args:
        model: functional Keras 3 model (any zoo model).
        sample: optional inputs for the parity check (default: 4 random raw-pixel images).
        check: compare both models' outputs and raise if they differ by more than ``PARITY_TOLERANCE``.

    Raises:
        ValueError: the model is not functional, has a layer with no tf_keras twin, or the outputs differ.
    """
    tf_keras = _tf_keras()

    def make_input(layer):
        return tf_keras.Input(batch_shape=layer.batch_shape, dtype=layer.dtype, name=layer.name)

    def make_layer(layer):
        tf_cls = _tf_keras_class(layer)
        return tf_cls.from_config(tf_keras_config(layer, tf_cls))

    inputs, outputs = rebuild_graph(model, make_input, make_layer)
    rebuilt = tf_keras.Model(unwrap(inputs), unwrap(outputs), name=model.name)
    copy_weights(model, rebuilt)
    if check:
        _check_parity(model, rebuilt, sample, "Keras 3 → tf_keras")
    return rebuilt


def to_keras(tf_keras_model, like, sample=None, check: bool = True):
    """The Keras 3 model ``like`` (a clone of it) with the weights of ``tf_keras_model``, which must have the same
    layers: ``to_tf_keras(like)`` after tfmot's strip_pruning/strip_clustering, or after fine-tuning."""
    wrapped = [layer.name for layer in tf_keras_model.layers if hasattr(layer, "layer")]
    if wrapped:
        raise ValueError(
            f"Model {tf_keras_model.name!r} still has tfmot wrappers ({', '.join(wrapped[:5])}); strip them first "
            "(kerazoo.optimize.prune.strip / cluster.strip)."
        )
    model = keras.models.clone_model(like)
    copy_weights(tf_keras_model, model)
    if check:
        _check_parity(tf_keras_model, model, sample, "tf_keras → Keras 3")
    return model


def write_tf_keras_saved_model(model, path: str) -> None:
    """SavedModel of a tf_keras model (e.g. a QAT one, which cannot go back to Keras 3) with kerazoo's contract:
    ``serving_default``: ``images`` → {``probabilities``, ``logits``}."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="images")])
    def serve(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": tf.nn.softmax(logits), "logits": logits}

    tf.saved_model.save(model, path, signatures={"serving_default": serve})

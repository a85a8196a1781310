"""Checks shared by the zoo's tests (imported as a plain module: pytest puts this folder on sys.path)."""

import re

import keras
import numpy as np

from kerazoo.applications import create_model, get_entry


def small_shape(name):
    """The smallest test input for a registered model: its minimum side (at least 32), its channels."""
    entry = get_entry(name)
    side = max(entry.min_input_size, 32)
    return (side, side, entry.input_shape[-1])


def trainable_params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def kerazoo_name(keras_name):
    """keras.applications' ResNet layer names → kerazoo's: ``conv1_*`` → ``stem_*``, ``convK_*`` → ``stage{K-1}_*``."""
    if keras_name.startswith("conv1_"):
        return "stem_" + keras_name[len("conv1_"):]
    match = re.fullmatch(r"conv(\d)_(block\d+_.+)", keras_name)
    return f"stage{int(match[1]) - 1}_{match[2]}" if match else keras_name


def assert_equals_keras(model, reference):
    """Same parameter count, every keras.applications weight fits the same-named kerazoo layer (and every kerazoo
    weight is covered), and both compute the same function once the weights are shared."""
    assert model.count_params() == reference.count_params()
    weighted = [layer for layer in reference.layers if layer.weights]
    for layer in weighted:
        model.get_layer(kerazoo_name(layer.name)).set_weights(layer.get_weights())
    assert len(weighted) == len([layer for layer in model.layers if layer.weights])
    x = np.random.default_rng(0).uniform(0, 255, size=(2, *model.input_shape[1:])).astype("float32")
    ours = keras.ops.convert_to_numpy(model(x, training=False))
    theirs = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * float(np.abs(theirs).max()))


def assert_drop_path_identity_at_inference(name, **kwargs):
    """drop_path_rate > 0 changes nothing at inference (same weights) and changes the training-mode output.

    Returns the model with drop path."""
    plain = create_model(name, classifier_activation=None, **kwargs)
    dropped = create_model(name, classifier_activation=None, drop_path_rate=0.5, **kwargs)
    assert any("drop_path" in layer.name for layer in dropped.layers)
    for layer in plain.layers:  # by name: drop-path layers shift the order of the other layers
        dropped.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(1).uniform(0, 1, size=(4, *plain.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(dropped(x, training=False)), keras.ops.convert_to_numpy(plain(x, training=False)),
        rtol=1e-6, atol=1e-6,
    )
    assert not np.allclose(
        keras.ops.convert_to_numpy(dropped(x, training=True)), keras.ops.convert_to_numpy(plain(x, training=True))
    )
    return dropped

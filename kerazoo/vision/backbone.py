"""The one way every dense head sits on a zoo backbone.

A head builder does:

    inputs, x = image_input(input_shape, input_tensor)        # raw pixels → normalized (unless already given)
    features, info = backbone_features(x, "resnet20", levels=3)   # feature maps, shallow → deep
    ... head layers on ``features`` ...
    model = keras.Model(inputs, outputs, name=name)

The backbone is the zoo model built with ``features_only=True`` and nested as one layer named ``"backbone"``
(``BACKBONE``), so transfer learning is one call: ``load_backbone_weights(model, classifier)`` copies the weights of
a trained classifier of the same family layer by layer, and ``set_backbone_trainable(model, False)`` freezes it.
``info`` is the backbone's ``feature_info``: one {"layer", "channels", "reduction"} per returned map.
"""

from __future__ import annotations

import keras

__all__ = ["BACKBONE", "image_input", "backbone_features", "load_backbone_weights", "set_backbone_trainable",
           "classifier_pixel_scaling"]

BACKBONE = "backbone"
"""Name of the nested backbone layer in every head."""
DEFAULT_MEAN, DEFAULT_STD = 0.5, 0.25
"""Normalization of a head built without an ``input_tensor`` (the training Task passes the dataset's own)."""


def image_input(input_shape, input_tensor=None, *, mean=DEFAULT_MEAN, std=DEFAULT_STD):
    """The head's input and the normalized tensor the backbone sees.

    With ``input_tensor`` (e.g. ``kerazoo.training.tasks.normalize(images, info)`` from the training Task) that tensor
    is used as it is; otherwise a raw-pixel Input named ``images`` followed by a ``Rescaling`` layer named
    ``normalize`` that maps 0-255 pixels to (pixel / 255 - mean) / std, like the classifiers' first layer.
    """
    if input_tensor is not None:
        return input_tensor, input_tensor
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(f"Invalid input_shape: expected (height, width, channels). Received: input_shape={input_shape!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = keras.layers.Rescaling(scale=1.0 / (255.0 * std), offset=-mean / std, name="normalize")(inputs)
    return inputs, x


def _check_levels(entry, levels: int, eligible) -> None:
    if len(eligible) >= levels:
        return
    from kerazoo.applications import list_models, get_entry

    enough = [n for n in list_models(task="classification") if len(get_entry(n).feature_taps) >= levels]
    raise ValueError(
        f"Invalid backbone: this head needs {levels} feature levels, and {entry.name!r} has "
        f"{len(eligible)} ({', '.join(f'{t.layer}@stride {t.reduction}' for t in eligible) or 'none'})."
        f" Backbones with enough levels include: {', '.join(enough[:8])}."
    )


def backbone_features(x, backbone: str, *, levels: int, min_levels: int | None = None, backbone_kwargs=None,
                      max_reduction: int | None = None):
    """Runs the zoo backbone ``backbone`` on ``x`` and returns its deepest feature maps and their ``feature_info``.

    Args:
        x: the normalized image tensor [B, H, W, C] (from :func:`image_input`).
        backbone: a registered classification model name with feature taps (``kerazoo models`` lists them).
        levels: how many of the deepest taps to return (fewer when the backbone has fewer, down to ``min_levels``).
        min_levels: fewest taps the head can work with (default ``levels``); fewer is a ValueError.
        backbone_kwargs: extra arguments of the backbone builder (e.g. ``{"alpha": 0.35}`` for MobileNet v2).
        max_reduction: leave out the taps deeper than this stride, and the layers only they need (a detector whose
            anchors stop at stride 16 carries no stride-32 stage: no dead weights, no wasted compute).

    Returns:
        (list of feature tensors from shallow to deep, list of {"layer", "channels", "reduction"} dicts).
    """
    from kerazoo.applications import create_model, get_entry

    entry = get_entry(backbone)
    if entry.task != "classification":
        raise ValueError(f"Invalid backbone: expected a classification model. Received: backbone={backbone!r} "
                         f"(task {entry.task!r}).")
    eligible = [t for t in entry.feature_taps if max_reduction is None or t.reduction <= max_reduction]  # a prefix
    _check_levels(entry, levels if min_levels is None else min_levels, eligible)
    taps = eligible[-min(levels, len(eligible)):]
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"Invalid input_shape: dense heads need a fixed image size (strides and decoder shapes "
                         f"depend on it). Received: {tuple(x.shape[1:])}; set model.input_size (e.g. [240, 320]).")
    largest = max(t.reduction for t in taps)
    if min(height, width) < largest:
        raise ValueError(
            f"Invalid input_shape: the image ({height}x{width}) is smaller than the largest stride ({largest}) of "
            f"backbone {entry.name!r}; use images of at least {largest}x{largest} pixels."
        )
    first = len(eligible) - len(taps)
    features_model = create_model(entry.name, features_only=True, out_indices=list(range(first, first + len(taps))),
                                  input_shape=tuple(x.shape[1:]), **(backbone_kwargs or {}))
    nested = keras.Model(features_model.inputs, features_model.outputs, name=BACKBONE)
    features = nested(x)
    return list(features), features_model.feature_info


def load_backbone_weights(model: keras.Model, source: keras.Model) -> int:
    """Copies weights from ``source`` (e.g. a trained classifier of the same backbone) into ``model``'s backbone.

    Layers are matched by name (the zoo's fixed layer-name scheme); the classifier head and layers whose weight
    shapes differ are skipped. Returns how many layers were copied; none is a ValueError.
    """
    target = model.get_layer(BACKBONE)
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            theirs = source.get_layer(layer.name)
        except ValueError:
            continue
        weights = theirs.get_weights()
        if [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(weights)
            copied += 1
    if copied == 0:
        raise ValueError(
            f"No backbone layer of {model.name!r} matches a layer of {source.name!r} by name and shape: is the "
            f"source a classifier of the same backbone family and width?"
        )
    return copied


def classifier_pixel_scaling(classifier: keras.Model, channels: int | None = None) -> tuple:
    """(scale, offset) of ``classifier``'s first layer, its ``normalize`` Rescaling.

    A backbone transferred from a classifier must see pixels scaled as it learnt them: by the classifier's dataset
    statistics, not those of the data the new model trains on (a frozen backbone keeps the classifier's BatchNorm
    statistics). ``channels``: the new model's image channels, checked against the classifier's."""
    try:
        layer = classifier.get_layer("normalize")
    except ValueError:
        raise ValueError(f"Invalid backbone_from: {classifier.name!r} has no `normalize` layer; expected a kerazoo "
                         f"classification run.") from None
    theirs = classifier.inputs[0].shape[-1]
    if channels is not None and channels != theirs:
        raise ValueError(f"Invalid backbone_from: {classifier.name!r} was trained on {theirs}-channel images and "
                         f"this model takes {channels}-channel images.")
    return layer.scale, layer.offset


def set_backbone_trainable(model: keras.Model, trainable: bool) -> None:
    """Freezes (False) or unfreezes (True) the nested backbone; recompile the model afterwards."""
    model.get_layer(BACKBONE).trainable = trainable

"""Pretrained weight tags: what can be loaded into which registered model, from where, and how to convert it.

A ``WeightTag`` is data: the model it fits, its tag name (``"keras_in1k"``, ``"tv_in1k"``, ``"timm/<hub id>"``),
the source that publishes it, where the source's own client fetches it and the hash the source publishes, the
preprocessing the weights were trained with (put inside the model, which takes raw pixels 0-255), and the source's
published figures. Source modules register their tags and one converter per model at import.

A converter assigns every weight of a freshly built kerazoo model from the source file's tensors as NumPy arrays
(``{name: array}``: ``"layer/weight"`` keys for Keras HDF5 files, state-dict keys for PyTorch and safetensors files).
It raises a ValueError naming the first layer whose shape differs, so a file of another architecture says where.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

__all__ = [
    "Preprocessing",
    "WeightTag",
    "Converter",
    "register_weights",
    "register_converter",
    "weight_tags",
    "get_tag",
    "find_tag",
    "get_converter",
    "models_with_weights",
]


@dataclass(frozen=True)
class Preprocessing:
    """How raw RGB pixels (0-255) become the network's input, as the source trained it.

    mode: ``"caffe"`` (RGB → BGR, minus the per-channel ``mean`` in 0-255 units, no scaling: keras' ResNet50/VGG),
        ``"torch"`` (/ 255, minus ``mean``, divided by ``std``, RGB: torchvision, most of timm), ``"tf"`` (/ 127.5 - 1:
        keras' MobileNet/Inception, timm's Inception-style models) or ``"none"``.
    resize / crop: the evaluation recipe the source documents (resize the shorter side to ``resize``, then centre
        crop ``crop``); documented on the card, not applied inside the model.
    interpolation: the resize filter of that recipe.
    """

    mode: str
    mean: tuple = ()
    std: tuple = ()
    resize: int | None = None
    crop: int | None = None
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class WeightTag:
    """One published set of weights for one registered model."""

    model: str  # registry name, e.g. "resnet50"
    tag: str  # e.g. "keras_in1k", "tv_in1k", "timm/seresnet50.a1_in1k"
    source: str  # "keras" | "torchvision" | "timm"
    url: str  # what the source's client fetches: a file URL (keras, torchvision) or a hub repo id (timm)
    filename: str  # the source file's name in the cache
    file_hash: str | None  # the hash the source publishes (keras: md5 or sha256; torchvision: the name's prefix)
    preprocessing: Preprocessing
    input_shape: tuple = (224, 224, 3)
    classes: int = 1000
    include_top: bool = True  # False for files that hold no classifier (keras' "notop" files)
    license: str = ""
    top1: float | None = None  # the source's published ImageNet-1k figures (%), marked as theirs on the card
    top5: float | None = None
    metrics_link: str = ""
    default: bool = False  # the tag that weights="imagenet" / pretrained=True means for this model
    builder_kwargs: Mapping = field(default_factory=dict)  # builder arguments these weights need (fixed variants)


Converter = Callable[["object", Mapping[str, np.ndarray]], None]

_TAGS: dict[str, dict[str, WeightTag]] = {}
_CONVERTERS: dict[tuple[str, str], Converter] = {}


def register_weights(*tags: WeightTag) -> None:
    for tag in tags:
        model_tags = _TAGS.setdefault(tag.model, {})
        if tag.tag in model_tags:
            raise ValueError(f"Weight tag {tag.tag!r} of model {tag.model!r} is registered twice.")
        if tag.default and any(t.default for t in model_tags.values()):
            raise ValueError(f"Model {tag.model!r} has two default weight tags.")
        model_tags[tag.tag] = tag


def register_converter(source: str, model: str, converter: Converter) -> None:
    _CONVERTERS[(source, model)] = converter


def weight_tags(model: str) -> list[WeightTag]:
    """The tags registered for ``model`` (a registry name), default first."""
    tags = list(_TAGS.get(model, {}).values())
    return sorted(tags, key=lambda t: (not t.default, t.tag))


def models_with_weights() -> list[str]:
    return sorted(_TAGS)


def get_tag(model: str, tag: str) -> WeightTag:
    """The tag ``tag`` of ``model``; ``"imagenet"`` is the model's default tag. Unknown tags list the model's tags."""
    tags = _TAGS.get(model, {})
    if tag == "imagenet":
        defaults = [t for t in tags.values() if t.default]
        if defaults:
            return defaults[0]
    elif tag in tags:
        return tags[tag]
    known = ", ".join(t.tag for t in weight_tags(model)) or "none"
    close = difflib.get_close_matches(tag, list(tags), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown weights {tag!r} for model {model!r}.{hint} Its pretrained tags: {known}.")


def find_tag(model: str, tag: str) -> WeightTag | None:
    """The tag ``tag`` of ``model`` when registered, else None (no error, no ``"imagenet"`` alias)."""
    return _TAGS.get(model, {}).get(tag)


def get_converter(source: str, model: str) -> Converter:
    try:
        return _CONVERTERS[(source, model)]
    except KeyError:
        raise ValueError(f"No converter from {source} weights to kerazoo model {model!r}.") from None

"""Pretrained weights for zoo models: tags, sources, conversion, the cache and loading.

``weights=`` of every registered builder (and ``create_model``) is resolved here, by the registry's builder wrapper
(``build``): None builds as usual; ``"imagenet"`` or a tag name resolves to a ``WeightTag`` (``tags.py``); a path is
recognised by content: a kerazoo ``.weights.h5`` (with a card beside it when it holds converted weights) or a source
file (keras ``.h5``, PyTorch ``.pth``, ``.safetensors``) converted on load. The model is then built with the source's
preprocessing as its first layer (``common.PRETRAINED_PREPROCESSING``) and the weights are loaded: a tag's source file
is converted once and the result cached (``files.py``).

Sources register their tags and converters at import: every module of this package named ``keras_*``, ``torch_*`` or
``timm_*`` is imported (found with pkgutil) before tags are resolved, so a new source is one new file.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

from kerazoo.applications import common
from kerazoo.applications.pretrained import files, tags
from kerazoo.applications.pretrained.labels import decode_predictions, imagenet_classes
from kerazoo.applications.pretrained.preprocess import Preprocess, preprocess_input
from kerazoo.applications.pretrained.tags import Preprocessing, WeightTag, register_converter, register_weights

__all__ = [
    "Preprocessing",
    "WeightTag",
    "Preprocess",
    "PretrainedInfo",
    "register_weights",
    "register_converter",
    "weight_tags",
    "get_tag",
    "models_with_weights",
    "build",
    "decode_predictions",
    "imagenet_classes",
    "preprocess_input",
]

log = logging.getLogger(__name__)  # stage lines; the kerazoo command prints them on stderr (not with --quiet)

SOURCE_PREFIXES = ("keras_", "torch_", "timm_")
# Which sources a file kind can come from, in the order they are tried (the first with a converter for the model).
SOURCES_OF_KIND = {"keras_h5": ("keras",), "torch": ("torchvision", "timm"), "safetensors": ("timm", "torchvision")}
_sources_loaded = False


def load_sources() -> None:
    """Import the source modules (``keras_*``, ``torch_*``, ``timm_*``) once, so their tags and converters exist."""
    global _sources_loaded
    if _sources_loaded:
        return
    _sources_loaded = True
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module.startswith(SOURCE_PREFIXES):
            importlib.import_module(f"{__name__}.{module}")


def weight_tags(model: str) -> list[WeightTag]:
    """The pretrained tags of a registered model, default first."""
    load_sources()
    return tags.weight_tags(model)


def get_tag(model: str, tag: str) -> WeightTag:
    load_sources()
    return tags.get_tag(model, tag)


def models_with_weights() -> list[str]:
    load_sources()
    return tags.models_with_weights()


@dataclass(frozen=True)
class PretrainedInfo:
    """What a pretrained model was loaded from, attached to it as ``model.pretrained``."""

    source: str
    tag: str | None  # None for a source file given by path
    path: str  # the file the weights were read from
    preprocessing: Preprocessing
    license: str = ""
    class_names: tuple = ()  # ImageNet's 1000 names when the model keeps the 1000-way classifier


@dataclass(frozen=True)
class _Plan:
    """How to load resolved weights: from a tag (cached conversion), a source file or a converted file."""

    kind: str  # "tag" | "source" | "converted"
    preprocessing: Preprocessing
    source: str
    tag: WeightTag | None = None
    path: str | None = None
    file_kind: str | None = None
    builder_kwargs: Mapping = field(default_factory=dict)
    license: str = ""


def _tag_for_source(model: str, source: str, kwargs: Mapping) -> WeightTag | None:
    """The tag of ``source`` for ``model`` whose fixed builder arguments the call agrees with, default first."""
    for tag in weight_tags(model):
        if tag.source == source and all(kwargs.get(k, v) == v for k, v in tag.builder_kwargs.items()):
            return tag
    return None


def _resolve_path(model: str, path: str, kwargs: Mapping) -> _Plan | None:
    kind = files.sniff(path)
    if kind == "keras_archive":
        return None  # a .keras checkpoint: Keras' own load_weights reads its weights
    if kind == "keras_weights":
        card = files.read_card(path)
        if card is None:
            return None  # a plain kerazoo weights file: the builder loads it as always
        common.verify_sha256(path)
        preprocessing = Preprocessing(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in card["preprocessing"].items()})
        return _Plan("converted", preprocessing, card["source"], path=path,
                     builder_kwargs=card.get("builder_kwargs", {}), license=card.get("license", ""))
    for source in SOURCES_OF_KIND[kind]:
        try:
            tags.get_converter(source, model)
        except ValueError:
            continue
        tag = _tag_for_source(model, source, kwargs)
        if tag is None:
            raise ValueError(f"Model {model!r} has no {source} weight tag, so the preprocessing of {path} is unknown.")
        # The tag's fixed builder arguments (torchvision's bias-free ResNet stem ...) describe the file's network too.
        return _Plan("source", tag.preprocessing, source, path=path, file_kind=kind,
                     builder_kwargs=tag.builder_kwargs, license=tag.license)
    raise ValueError(
        f"No converter reads {kind} file {path} into model {model!r}: {', '.join(SOURCES_OF_KIND[kind])} "
        f"converters exist for {', '.join(models_with_weights()) or 'no model'}."
    )


def _resolve(model: str, weights, kwargs: Mapping) -> _Plan | None:
    if weights is None:
        return None
    load_sources()
    if common.looks_like_path(weights):
        path = os.fspath(weights)
        return _resolve_path(model, path, kwargs) if os.path.exists(path) else None  # check_args says "no file"
    tag = get_tag(model, weights)
    if weights == "imagenet":  # the default tag, or the one of its source for the width the call asks for
        tag = next((t for t in weight_tags(model) if t.source == tag.source and t.include_top and t.builder_kwargs
                    and all(kwargs.get(k) == v for k, v in t.builder_kwargs.items())), tag)
    include_top = kwargs.get("include_top", True)
    if not include_top and tag.include_top:
        tag = tags.find_tag(model, f"{tag.tag}_notop") or tag  # the smaller file when the source publishes one
    if include_top and not tag.include_top:
        raise ValueError(
            f"Weights {tag.tag!r} of {model!r} hold no classifier; pass include_top=False or a tag with one."
        )
    return _Plan("tag", tag.preprocessing, tag.source, tag=tag, builder_kwargs=tag.builder_kwargs,
                 license=tag.license)


def _build_with(builder: Callable, kwargs: Mapping, preprocessing):
    token = common.PRETRAINED_PREPROCESSING.set(preprocessing)
    try:
        return builder(**kwargs)
    finally:
        common.PRETRAINED_PREPROCESSING.reset(token)


def _tag_files(tag: WeightTag) -> tuple[str | None, str | None]:
    """(the tag's converted file, None) when cached, else (None, its source file: placed or fetched). Called before
    the model is built, so a missing file or a wrong hash fails fast."""
    cached = files.converted_path(tag)
    if os.path.exists(cached):
        common.verify_sha256(cached)
        return cached, None
    return None, files.source_file(tag)


def _convert_tag(model_name: str, builder: Callable, kwargs: dict, model, tag: WeightTag,
                 source_path: str) -> tuple[str, bool]:
    """Convert the tag's source file (into ``model`` itself when it has the tag's own configuration, else into a
    model built so) and cache the result; returns its path and whether ``model`` already holds the weights."""
    log.info("converting %s weights %r of %s (first use; later uses load the converted cache)", tag.source, tag.tag,
             model_name)
    tensors = files.read_tensors(source_path)
    converter = tags.get_converter(tag.source, model_name)
    # The cache must fit every later use of the tag: a classifier's Dense layers (VGG's) depend on the input size.
    same_config = kwargs.get("include_top", True) == tag.include_top and (
        not tag.include_top or tuple(model.input_shape[1:]) == tuple(tag.input_shape))
    target = model
    if not same_config:
        target = _build_with(builder, {
            **kwargs, "include_top": tag.include_top, "classes": tag.classes, "input_shape": tag.input_shape,
            "input_tensor": None, "pooling": None, "weights": None,
        }, tag.preprocessing)
    converter(target, tensors)
    return files.write_converted(target, tag, source_path, preprocessing=asdict(tag.preprocessing)), same_config


def build(model_name: str, builder: Callable, kwargs: dict):
    """Build ``model_name`` with ``builder(**kwargs)``, resolving and loading pretrained ``kwargs["weights"]``."""
    plan = _resolve(model_name, kwargs.get("weights"), kwargs)
    if plan is None:
        return _build_with(builder, kwargs, None)
    kwargs = dict(kwargs)
    for key, value in plan.builder_kwargs.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(
                f"Weights {kwargs['weights']!r} of {model_name!r} need {key}={value!r}. Received: {key}={kwargs[key]!r}"
            )
        kwargs[key] = value
    tag = plan.tag
    if tag is not None:
        if kwargs.get("input_shape") is None and kwargs.get("input_tensor") is None:
            kwargs["input_shape"] = tag.input_shape
        if kwargs.get("include_top", True) and kwargs.get("classes", tag.classes) != tag.classes:
            raise ValueError(
                f"Weights {tag.tag!r} of {model_name!r} have a {tag.classes}-way classifier; pass include_top=False "
                f"(and add your own head) for another number of classes. Received: classes={kwargs['classes']!r}"
            )
    path = os.fspath(kwargs["weights"]) if plan.kind != "tag" else None
    kwargs["weights"] = None
    if plan.kind == "tag":  # before the build: a missing file, no network or a wrong hash fails fast
        path, source_path = _tag_files(tag)
    model = _build_with(builder, kwargs, plan.preprocessing)
    if plan.kind == "source":
        tags.get_converter(plan.source, model_name)(model, files.read_tensors(path, plan.file_kind))
    elif path is not None:  # a converted file (its hash checked when resolved): the tag's cache, or one by path
        model.load_weights(path)
    else:
        path, converted_in_place = _convert_tag(model_name, builder, kwargs, model, tag, source_path)
        if not converted_in_place:
            model.load_weights(path)
    has_imagenet_head = kwargs.get("include_top", True) and model.output_shape[-1] == 1000
    model.pretrained = PretrainedInfo(
        source=plan.source, tag=tag.tag if tag else None, path=path, preprocessing=plan.preprocessing,
        license=plan.license, class_names=tuple(name for _, name in imagenet_classes()) if has_imagenet_head else (),
    )
    return model

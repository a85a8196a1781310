"""The model registry: one typed entry per builder, found by name.

    @register_model(family="resnet", paper="He et al., Deep Residual Learning", year=2016,
                    input_shape=(32, 32, 3), feature_taps=(...,))
    def ResNet20(*, include_top=True, ...): ...

registers ``resnet20`` (the function name, lower-cased). ``create_model(name, **kw)`` is the single entry point;
``list_models("resnet*")`` filters with fnmatch and sorts naturally; ``model_info(name)`` measures parameters and
FLOPs at the default input. Unknown names raise a ValueError that lists the closest registered names.

Names are found in the spellings users of keras.applications and timm type: case and the separators ``_``, ``-``
and spaces are ignored (``ResNet50``, ``resnet_50`` and ``resnet-50`` are ``resnet50``). ``create_model`` also takes
timm's argument names (``pretrained``, ``num_classes``, ``in_chans``, ``global_pool``) as aliases of kerazoo's, and
``list_models`` timm's ``filter``, ``exclude_filters`` and ``pretrained``.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from kerazoo.applications import common
# Task packages that register models of their own (detectors, generative models, ViT ...) build on this package, so
# it cannot import them; kerazoo.plugins imports them by name on the first registry lookup.
from kerazoo.plugins import PACKAGES as PLUGIN_PACKAGES  # noqa: F401  (the names the registry loads)
from kerazoo.plugins import load_plugins

__all__ = [
    "FeatureTap",
    "FeatureInfo",
    "ModelEntry",
    "register_model",
    "create_model",
    "list_models",
    "registered_names",
    "get_entry",
    "model_info",
    "adapt_input_conv",
    "copy_weights_adapting_input",
]


@dataclass(frozen=True)
class FeatureTap:
    """A feature map a backbone offers to dense-prediction heads: the layer that outputs it and its stride."""

    layer: str
    reduction: int


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one builder, without building it."""

    name: str
    builder: Callable
    family: str
    paper: str
    year: int
    input_shape: tuple  # the default (and paper's) input size
    feature_taps: tuple = ()
    reported_top1: float | None = None  # top-1 accuracy (%) as reported in the paper, where it gives one
    dataset: str = "imagenet"  # what the paper's top-1 and default input refer to
    task: str = "classification"
    tags: tuple = ()
    min_input_size: int = 32

    @property
    def module(self) -> str:
        return self.builder.__module__


_REGISTRY: dict[str, ModelEntry] = {}

def register_model(
    *,
    family: str,
    paper: str,
    year: int,
    input_shape: Sequence[int],
    feature_taps: Iterable[FeatureTap] = (),
    reported_top1: float | None = None,
    dataset: str = "imagenet",
    task: str = "classification",
    tags: Iterable[str] = (),
    min_input_size: int = 32,
    name: str | None = None,
):
    """Register a builder under its lower-cased function name (or ``name``); a duplicate name is an error.

    Appends the shared argument documentation to the builder's docstring, so each builder only documents its
    family's own knobs, and returns the builder wrapped so that ``weights=`` accepts pretrained tags and source
    files (``kerazoo.applications.pretrained.build``: the preprocessing layer, conversion, the cache).
    """

    def decorate(builder: Callable) -> Callable:
        model_name = name or builder.__name__.lower()
        if model_name in _REGISTRY:
            raise ValueError(
                f"Model name {model_name!r} is registered twice: by {_REGISTRY[model_name].module} and by "
                f"{builder.__module__}."
            )
        builder.__doc__ = (builder.__doc__ or "").rstrip() + "\n" + common.COMMON_ARGS_DOC

        @functools.wraps(builder)
        def build(**kwargs):
            if kwargs.get("weights") is None:
                return builder(**kwargs)
            from kerazoo.applications import pretrained

            return pretrained.build(model_name, builder, kwargs)

        _REGISTRY[model_name] = ModelEntry(
            name=model_name,
            builder=build,
            family=family,
            paper=paper,
            year=year,
            input_shape=tuple(input_shape),
            feature_taps=tuple(feature_taps),
            reported_top1=reported_top1,
            dataset=dataset,
            task=task,
            tags=tuple(tags),
            min_input_size=min_input_size,
        )
        return build

    return decorate


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


_SEPARATORS = re.compile(r"[\s_\-]+")


def _compact(name: str) -> str:
    """A name without case or separators: ``ResNet-50`` → ``resnet50``."""
    return _SEPARATORS.sub("", name.strip().lower())


def _patterns(value, arg: str) -> list[str]:
    patterns = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"Invalid {arg}: expected a pattern or a list of patterns. Received: {arg}={value!r}")
    return [p.strip().lower() for p in patterns]


def _matches(name: str, pattern: str) -> bool:
    """fnmatch, and a pattern without wildcards also matches the name in another spelling (``ResNet-50``)."""
    if fnmatch.fnmatchcase(name, pattern):
        return True
    return not any(c in pattern for c in "*?[") and _compact(pattern) == _compact(name)


def registered_names() -> list[str]:
    """Every registered name, in registration order (the CLI's name index; :func:`list_models` filters and sorts)."""
    load_plugins()
    return list(_REGISTRY)


def list_models(
    pattern: str | Sequence[str] = "*",
    exclude: str | Sequence[str] = (),
    *,
    filter: str | Sequence[str] | None = None,  # noqa: A002 (timm's name)
    exclude_filters: str | Sequence[str] | None = None,
    pretrained: bool = False,
    family: str | None = None,
    task: str | None = None,
) -> list[str]:
    """Registered model names matching any fnmatch ``pattern`` and no ``exclude`` pattern, naturally sorted.

    Patterns are case-insensitive. timm's spelling is accepted too: ``filter`` (= ``pattern``; ``""`` = all),
    ``exclude_filters`` (= ``exclude``) and ``pretrained=True`` (only models with registered pretrained weights,
    see ``kerazoo.applications.pretrained``).
    """
    if filter is not None:
        if pattern != "*":
            raise ValueError(f"Pass either pattern= or filter= (timm's spelling), not both. Received: "
                             f"pattern={pattern!r}, filter={filter!r}")
        pattern = filter or "*"
    if exclude_filters is not None:
        if exclude:
            raise ValueError(f"Pass either exclude= or exclude_filters= (timm's spelling), not both. Received: "
                             f"exclude={exclude!r}, exclude_filters={exclude_filters!r}")
        exclude = exclude_filters
    if not isinstance(pretrained, bool):
        raise ValueError(f"Invalid pretrained: expected True or False. Received: pretrained={pretrained!r}")
    load_plugins()
    patterns, excludes = _patterns(pattern, "pattern"), _patterns(exclude, "exclude")
    with_weights = {n for n in _REGISTRY if _has_weights(n)} if pretrained else None
    names = [
        n
        for n, e in _REGISTRY.items()
        if any(_matches(n, p) for p in patterns)
        and not any(_matches(n, p) for p in excludes)
        and (family is None or e.family == family)
        and (task is None or e.task == task)
        and (with_weights is None or n in with_weights)
    ]
    return sorted(names, key=_natural_key)


def _has_weights(name: str) -> bool:
    """Whether pretrained weights are registered for the model ``name`` (see kerazoo.applications.pretrained)."""
    from kerazoo.applications.pretrained import weight_tags  # loads the source modules that register the tags

    return bool(weight_tags(name))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name`` in any spelling (case and ``_``/``-``/space separators ignored); an unknown
    name is a ValueError listing the closest names."""
    if not isinstance(name, str):
        raise ValueError(f"Invalid model name: expected a string. Received: name={name!r}")
    key = name.strip().lower()
    if key not in _REGISTRY:
        load_plugins()
    if key in _REGISTRY:
        return _REGISTRY[key]
    by_compact = {_compact(n): n for n in _REGISTRY}
    if _compact(key) in by_compact:
        return _REGISTRY[by_compact[_compact(key)]]
    close = difflib.get_close_matches(_compact(key), list(by_compact), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(by_compact[c] for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} `kerazoo models` (or kerazoo.applications.list_models()) lists all "
        f"{len(_REGISTRY)} registered models."
    )


TIMM_GLOBAL_POOL = {"avg": "avg", "max": "max", "": None}
"""timm's ``global_pool`` values that kerazoo has, and the ``pooling`` each means ("" = no pooling)."""


def create_model(
    name: str,
    *,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    pretrained: bool | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    global_pool: str | None = None,
    **kwargs,
):
    """Build a registered model by name.

    Args:
        name: a registered name (see ``list_models``) in any spelling: ``resnet50``, ``ResNet50``, ``resnet-50``.
        features_only: return a backbone whose outputs are the feature maps of the family's declared taps
            (strides such as 4, 8, 16, 32, whichever the architecture has) instead of a classifier.
        out_indices: with ``features_only``, which taps to return (indices into ``model_info(name)["feature_taps"]``,
            negative ones count from the end); default all.
        pretrained: timm's spelling of ``weights``: True = ``weights="imagenet"`` (the model's default pretrained
            weights; an error while none are registered for it), False = ``weights=None``.
        num_classes: timm's spelling of ``classes``; 0 = no classifier, pooled features as timm returns them
            (``include_top=False`` with ``pooling="avg"``, or ``global_pool``'s pooling).
        in_chans: input channels (the last number of ``input_shape``, whose height and width default to the
            model's). With weights for another channel count (``weights=PATH`` or ``pretrained=True``), every layer
            gets them and the first convolution's kernel is adapted as timm's ``adapt_input_conv`` does: summed over
            the channels for 1, repeated and scaled by (weight channels / in_chans) for more.
        global_pool: timm's spelling of ``pooling``: ``"avg"``, ``"max"`` or ``""`` (no pooling). The classifier
            head always pools by average, so ``"max"`` and ``""`` need ``num_classes=0`` (or ``include_top=False``).
        **kwargs: the builder's own arguments (``input_shape``, ``classes``, ``weights``, family knobs ...). Giving
            an argument in both spellings (``classes`` and ``num_classes``) is an error.

    Returns:
        A ``keras.Model``. With ``features_only`` it has one output per tap and a ``feature_info`` attribute, a
        :class:`FeatureInfo`: one dict ``{"layer", "channels", "reduction", ...}`` per output, with timm's
        ``channels()``, ``reduction()``, ``module_name()`` and ``get_dicts()``.
    """
    entry = get_entry(name)
    accepted = inspect.signature(entry.builder).parameters
    timm_args = {"pretrained": pretrained, "num_classes": num_classes, "in_chans": in_chans, "global_pool": global_pool}
    # A builder's own argument of the same name (DCGAN's num_classes) is that argument, not timm's alias.
    kwargs.update({arg: value for arg, value in timm_args.items() if arg in accepted and value is not None})
    timm_args = {arg: None if arg in accepted else value for arg, value in timm_args.items()}
    given = set(kwargs)
    kwargs = _timm_arguments(entry, kwargs, accepted, features_only=features_only, **timm_args)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        timm_given = [f"{arg}=" for arg, value in timm_args.items() if value is not None]
        origin = f" (from {', '.join(timm_given)})" if set(unknown) - given and timm_given else ""
        raise ValueError(
            f"create_model({entry.name!r}) got unknown argument(s) {unknown}{origin}. "
            f"Accepted: {', '.join(p for p in accepted)}."
        )
    if not features_only:
        if out_indices is not None:
            raise ValueError("out_indices is only meaningful with features_only=True.")
        return _build(entry, kwargs, timm_args["in_chans"])
    return _features_model(entry, out_indices, kwargs, timm_args["in_chans"])


def _either(kwargs: dict, timm_arg: str, timm_value, arg: str, value) -> None:
    if arg in kwargs:
        raise ValueError(f"Pass either {arg}= or {timm_arg}= (timm's spelling), not both. Received: "
                         f"{arg}={kwargs[arg]!r}, {timm_arg}={timm_value!r}")
    kwargs[arg] = value


def _timm_arguments(entry, kwargs, accepted, *, features_only, pretrained, num_classes, in_chans, global_pool):
    """``kwargs`` with timm's argument names translated to kerazoo's."""
    kwargs = dict(kwargs)
    if pretrained is not None:
        if not isinstance(pretrained, bool):
            raise ValueError(f"Invalid pretrained: expected True or False. Received: pretrained={pretrained!r}")
        if pretrained and not _has_weights(entry.name):
            raise ValueError(
                f"pretrained=True: no pretrained weights are registered for {entry.name!r} yet "
                f"(list_models(pretrained=True) lists the models that have them). Pass weights=PATH to a local "
                f"weights file instead, or pretrained=False."
            )
        if pretrained or "weights" in accepted:
            _either(kwargs, "pretrained", pretrained, "weights", "imagenet" if pretrained else None)
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"Invalid num_classes: expected an integer >= 0 (0 = no classifier). "
                             f"Received: num_classes={num_classes!r}")
        if num_classes > 0:
            if features_only:
                raise ValueError(f"features_only=True builds without a classifier; pass num_classes=0 or leave it "
                                 f"out. Received: num_classes={num_classes!r}")
            _either(kwargs, "num_classes", num_classes, "classes", num_classes)
        elif not features_only:
            if kwargs.get("include_top") is True:
                raise ValueError("num_classes=0 means no classifier, and include_top=True asks for one; pass one "
                                 "of them. Received: include_top=True, num_classes=0")
            kwargs["include_top"] = False
            if global_pool is None:
                kwargs.setdefault("pooling", "avg")  # timm's num_classes=0 models return pooled features
    if global_pool is not None:
        if global_pool not in TIMM_GLOBAL_POOL:
            raise ValueError(f"Invalid global_pool: expected one of {', '.join(map(repr, TIMM_GLOBAL_POOL))}. "
                             f"Received: global_pool={global_pool!r}")
        if features_only:
            raise ValueError(f"features_only=True returns unpooled feature maps; leave out global_pool. "
                             f"Received: global_pool={global_pool!r}")
        if kwargs.get("include_top", True):
            if global_pool != "avg":
                raise ValueError(f"The classifier head pools by average; global_pool={global_pool!r} applies to "
                                 f"pooled features: add num_classes=0.")
        else:
            _either(kwargs, "global_pool", global_pool, "pooling", TIMM_GLOBAL_POOL[global_pool])
    if in_chans is not None:
        if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
            raise ValueError(f"Invalid in_chans: expected a positive integer. Received: in_chans={in_chans!r}")
        given = kwargs.get("input_shape")
        if given is None and kwargs.get("input_tensor") is not None:
            given = tuple(kwargs["input_tensor"].shape[1:])
        if given is not None and (len(given) != 3 or given[-1] != in_chans):
            raise ValueError(f"input_shape and in_chans disagree: input_shape's last number is the channels. "
                             f"Received: input_shape={tuple(given)!r}, in_chans={in_chans!r}")
        kwargs["input_shape"] = tuple(given) if given is not None else (*entry.input_shape[:2], in_chans)
    return kwargs


def _build(entry: ModelEntry, kwargs: dict, in_chans: int | None = None):
    """``entry.builder(**kwargs)``. With ``in_chans`` and weights of another channel count (the model's default, as
    timm assumes of pretrained weights), the weights go into a model of their own channels first and are then copied
    over, the first convolution's kernel adapted (``adapt_input_conv``)."""
    weights = kwargs.get("weights")
    weight_channels = entry.input_shape[-1]
    if weights is None or in_chans is None or in_chans == weight_channels:
        return entry.builder(**kwargs)
    if weights != "imagenet":
        try:
            return entry.builder(**kwargs)  # a file of in_chans channels (a kerazoo run's) loads as it is
        except ValueError:
            pass  # a file of the default channels; any other error comes again from the source model below
    source = entry.builder(**{**kwargs, "input_tensor": None,
                              "input_shape": (*kwargs["input_shape"][:2], weight_channels)})
    target = entry.builder(**{**kwargs, "weights": None})
    copy_weights_adapting_input(source, target)
    return target


def adapt_input_conv(kernel, in_chans: int):
    """A convolution kernel (Keras layout: height, width, input channels, filters) adapted to ``in_chans`` input
    channels as timm's ``adapt_input_conv`` does: summed over the input channels for 1; for more, the channels
    repeated (cycled) up to ``in_chans`` and scaled by (kernel's channels / in_chans), which keeps the response to a
    uniform image."""
    import numpy as np

    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"Invalid kernel: expected a 4-D convolution kernel (height, width, in, out). "
                         f"Received: shape {kernel.shape}")
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"Invalid in_chans: expected a positive integer. Received: in_chans={in_chans!r}")
    base = kernel.shape[2]
    if in_chans == base:
        return kernel
    work = kernel.astype(np.float32)
    if in_chans == 1:
        adapted = work.sum(axis=2, keepdims=True)
    else:
        repeat = -(-in_chans // base)
        adapted = np.tile(work, (1, 1, repeat, 1))[:, :, :in_chans, :] * (base / float(in_chans))
    return adapted.astype(kernel.dtype)


def copy_weights_adapting_input(source, target) -> list[str]:
    """Copy every weight of ``source`` into the layer of the same name in ``target``, a model of the same
    architecture with another number of input channels; convolution kernels whose input channels differ (the first
    convolution's) go through ``adapt_input_conv``. Returns the names of the adapted layers."""
    import keras

    adapted = []
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            source_layer = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"Cannot copy weights: layer {layer.name!r} is missing from the source model.") from None
        values = []
        for variable, value in zip(layer.weights, source_layer.get_weights()):
            shape = tuple(variable.shape)
            if value.shape != shape:
                if not (isinstance(layer, keras.layers.Conv2D) and value.ndim == 4
                        and value.shape[:2] + value.shape[3:] == shape[:2] + shape[3:]):
                    raise ValueError(f"Cannot adapt the weights of layer {layer.name!r}: shape {value.shape} in the "
                                     f"source, {shape} here; only a convolution's input channels may differ.")
                value = adapt_input_conv(value, shape[2])
                adapted.append(layer.name)
            values.append(value)
        layer.set_weights(values)
    return adapted


class FeatureInfo:
    """What a ``features_only`` model returns: one dict per output, with the methods of timm's ``FeatureInfo``.

    Each dict has kerazoo's keys ``layer``, ``channels`` and ``reduction``, timm's ``num_chs`` and ``module`` (the
    same numbers and layer name) and ``index``, the tap's index among all the model's taps (timm's out index).
    The object is a sequence of the returned maps: ``info[0]``, ``len(info)`` and iteration follow the outputs.
    The methods take timm's ``idx``: None for the returned maps, or a tap index (or list of them) into all taps.
    """

    def __init__(self, taps: Sequence[dict], out_indices: Sequence[int]):
        self.info = [dict(t, index=i, num_chs=t["channels"], module=t["layer"]) for i, t in enumerate(taps)]
        self.out_indices = tuple(out_indices)

    def get(self, key: str, idx=None):
        """``key`` of the returned maps (idx None), of the tap ``idx`` or of the taps in the list ``idx``."""
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, (tuple, list)):
            return [self.info[i][key] for i in idx]
        return self.info[idx][key]

    def get_dicts(self, keys: Sequence[str] | None = None, idx=None):
        """The dicts (only ``keys``, when given) of the returned maps, of the tap ``idx`` or of the taps in ``idx``."""

        def pick(i):
            return dict(self.info[i]) if keys is None else {k: self.info[i][k] for k in keys}

        if idx is None:
            return [pick(i) for i in self.out_indices]
        if isinstance(idx, (tuple, list)):
            return [pick(i) for i in idx]
        return pick(idx)

    def channels(self, idx=None):
        return self.get("channels", idx)

    def reduction(self, idx=None):
        return self.get("reduction", idx)

    def module_name(self, idx=None):
        return self.get("layer", idx)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self.info[i] for i in self.out_indices[item]]
        return self.info[self.out_indices[item]]

    def __len__(self) -> int:
        return len(self.out_indices)

    def __iter__(self):
        return (self.info[i] for i in self.out_indices)

    def __eq__(self, other) -> bool:
        if isinstance(other, FeatureInfo):
            return self.info == other.info and self.out_indices == other.out_indices
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        maps = ", ".join(f"{d['layer']}@{d['reduction']}:{d['channels']}" for d in self)
        return f"FeatureInfo([{maps}], out_indices={self.out_indices})"


def _features_model(entry: ModelEntry, out_indices, kwargs, in_chans=None):
    import keras

    if not entry.feature_taps:
        raise ValueError(f"Model {entry.name!r} declares no feature taps, so features_only=True is not available.")
    for arg in ("include_top", "pooling"):
        if kwargs.get(arg):
            raise ValueError(f"features_only=True builds without a head; do not pass {arg}={kwargs[arg]!r}.")
    kwargs = {**kwargs, "include_top": False, "pooling": None}
    taps = list(entry.feature_taps)
    indices = list(range(len(taps))) if out_indices is None else list(out_indices)
    if any(isinstance(i, bool) or not isinstance(i, int) or not -len(taps) <= i < len(taps) for i in indices):
        raise ValueError(
            f"out_indices={indices} is out of range: {entry.name!r} has {len(taps)} feature taps "
            f"({', '.join(f'{t.layer}@{t.reduction}' for t in entry.feature_taps)})."
        )
    indices = [i % len(taps) for i in indices]
    backbone = _build(entry, kwargs, in_chans)
    tap_outputs = [_exact_stride(backbone.get_layer(t.layer).output, backbone.inputs[0], t) for t in taps]
    inputs = backbone.inputs[0] if len(backbone.inputs) == 1 else backbone.inputs  # one array in, as the builders
    model = keras.Model(inputs, [tap_outputs[i] for i in indices], name=f"{backbone.name}_features")
    model.feature_info = FeatureInfo(
        [{"layer": t.layer, "channels": int(out.shape[-1]), "reduction": t.reduction}
         for t, out in zip(taps, tap_outputs)],
        indices,
    )
    return model


def _exact_stride(feature_map, image, tap: FeatureTap):
    """``feature_map`` zero-padded to ceil(image side / reduction), the size a 'same'-padded network gives.

    Valid (unpadded) convolutions shave the border (LeNet-5's stride-4 map of a 32x32 image is 5x5, not 8x8), which
    would leave a dense head's upsampling by ``reduction`` short; the shave is symmetric, so is the padding.
    """
    import keras

    target = [None if side is None else -(-side // tap.reduction) for side in image.shape[1:3]]
    have = feature_map.shape[1:3]
    if None in target or None in have or list(have) == target:
        return feature_map
    missing = [t - h for t, h in zip(target, have)]
    if min(missing) < 0:
        raise ValueError(f"Feature tap {tap.layer!r} declares reduction {tap.reduction} but its map is "
                         f"{have[0]}x{have[1]} for a {image.shape[1]}x{image.shape[2]} image.")
    padding = tuple((m // 2, m - m // 2) for m in missing)
    return keras.layers.ZeroPadding2D(padding, name=f"{tap.layer}_pad_to_stride")(feature_map)


@functools.lru_cache(maxsize=None)
def _measure(name: str) -> tuple[int, int]:
    from kerazoo.applications.flops import count_flops

    entry = get_entry(name)
    model = entry.builder(input_shape=entry.input_shape)
    return int(model.count_params()), int(count_flops(model))


def model_info(name: str) -> dict:
    """Facts about a registered model: family, paper, year, default input, parameters and FLOPs (multiply-adds x2)
    at that input with the default number of classes, reported top-1 and feature taps."""
    entry = get_entry(name)
    params, flops = _measure(entry.name)
    return {
        "name": entry.name,
        "family": entry.family,
        "task": entry.task,
        "paper": entry.paper,
        "year": entry.year,
        "input_shape": entry.input_shape,
        "params": params,
        "flops": flops,
        "reported_top1": entry.reported_top1,
        "dataset": entry.dataset,
        "feature_taps": [{"layer": t.layer, "reduction": t.reduction} for t in entry.feature_taps],
        "module": entry.module,
    }

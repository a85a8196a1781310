"""The model registry: one typed entry per builder, found by name.

    @register_model(family="resnet", paper="He et al., Deep Residual Learning", year=2016,
                    input_shape=(32, 32, 3), feature_taps=(...,))
    def ResNet20(*, include_top=True, ...): ...

registers ``resnet20`` (the function name, lower-cased). ``create_model(name, **kw)`` is the single entry point;
``list_models("resnet*")`` filters with fnmatch and sorts naturally; ``model_info(name)`` measures parameters and
FLOPs at the default input. Unknown names raise a ValueError that lists the closest registered names.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import importlib.util
import inspect
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from kerazoo.applications import common

__all__ = [
    "FeatureTap",
    "ModelEntry",
    "register_model",
    "create_model",
    "list_models",
    "get_entry",
    "model_info",
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

# Task packages that register models of their own (detectors, generative models, ViT ...). They build on this
# package, so they cannot be imported by it at import time; they are imported on the first registry lookup instead.
PLUGIN_PACKAGES = ("kerazoo.vision", "kerazoo.generative", "kerazoo.sequence")
_plugins_loaded = False


def load_plugins() -> None:
    """Import the task packages that exist (once), so their models join the registry."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for package in PLUGIN_PACKAGES:
        if importlib.util.find_spec(package) is not None:
            importlib.import_module(package)


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


def list_models(
    pattern: str | Sequence[str] = "*",
    exclude: str | Sequence[str] = (),
    *,
    family: str | None = None,
    task: str | None = None,
) -> list[str]:
    """Registered model names matching any fnmatch ``pattern`` and no ``exclude`` pattern, naturally sorted."""
    load_plugins()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    excludes = [exclude] if isinstance(exclude, str) else list(exclude)
    names = [
        n
        for n, e in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p) for p in patterns)
        and not any(fnmatch.fnmatchcase(n, p) for p in excludes)
        and (family is None or e.family == family)
        and (task is None or e.task == task)
    ]
    return sorted(names, key=_natural_key)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name is a ValueError listing the closest names."""
    key = name.lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    load_plugins()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} `kerazoo models` (or kerazoo.applications.list_models()) lists all "
        f"{len(_REGISTRY)} registered models."
    )


def create_model(name: str, *, features_only: bool = False, out_indices: Sequence[int] | None = None, **kwargs):
    """Build a registered model by name.

    Args:
        name: a registered name (see ``list_models``), case-insensitive.
        features_only: return a backbone whose outputs are the feature maps of the family's declared taps
            (strides such as 4, 8, 16, 32, whichever the architecture has) instead of a classifier.
        out_indices: with ``features_only``, which taps to return (indices into ``model_info(name)["feature_taps"]``,
            negative ones count from the end); default all.
        **kwargs: the builder's own arguments (``input_shape``, ``classes``, ``weights``, family knobs ...).

    Returns:
        A ``keras.Model``. With ``features_only`` it has one output per tap and a ``feature_info`` attribute: a list
        of dicts ``{"layer", "channels", "reduction"}``.
    """
    entry = get_entry(name)
    accepted = inspect.signature(entry.builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"create_model({entry.name!r}) got unknown argument(s) {unknown}. "
            f"Accepted: {', '.join(p for p in accepted)}."
        )
    if not features_only:
        if out_indices is not None:
            raise ValueError("out_indices is only meaningful with features_only=True.")
        return entry.builder(**kwargs)
    return _features_model(entry, out_indices, kwargs)


def _features_model(entry: ModelEntry, out_indices, kwargs):
    import keras

    if not entry.feature_taps:
        raise ValueError(f"Model {entry.name!r} declares no feature taps, so features_only=True is not available.")
    for arg in ("include_top", "pooling"):
        if kwargs.get(arg):
            raise ValueError(f"features_only=True builds without a head; do not pass {arg}={kwargs[arg]!r}.")
    kwargs = {**kwargs, "include_top": False, "pooling": None}
    taps = list(entry.feature_taps)
    if out_indices is not None:
        try:
            taps = [taps[i] for i in out_indices]
        except IndexError:
            raise ValueError(
                f"out_indices={list(out_indices)} is out of range: {entry.name!r} has {len(taps)} feature taps "
                f"({', '.join(f'{t.layer}@{t.reduction}' for t in entry.feature_taps)})."
            ) from None
    backbone = entry.builder(**kwargs)
    outputs = [backbone.get_layer(t.layer).output for t in taps]
    model = keras.Model(backbone.inputs, outputs, name=f"{backbone.name}_features")
    model.feature_info = [
        {"layer": t.layer, "channels": int(out.shape[-1]), "reduction": t.reduction} for t, out in zip(taps, outputs)
    ]
    return model


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

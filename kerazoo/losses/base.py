"""What every kerazoo loss shares: a Loss class made from a plain function, and ``get`` to resolve one by name.

    from kerazoo import losses
    loss = losses.get("multiclass_hinge", margin=1.0)      # a kerazoo loss by function or class name
    loss = losses.get("SparseCategoricalCrossentropy", from_logits=True)   # or any Keras loss
    loss = losses.get({"class_name": "kerazoo>MulticlassHinge", "config": {"margin": 2.0}})   # a saved config

A loss module defines each loss twice: a function ``name(y_true, y_pred, **options)`` returning one value per
example, and a :class:`FunctionLoss` subclass that calls it, so ``model.compile(loss=...)`` and saving work.
"""

from __future__ import annotations

import difflib
import inspect
import re

import keras

__all__ = ["FunctionLoss", "get", "available"]


class FunctionLoss(keras.losses.Loss):
    """A ``keras.losses.Loss`` that applies the per-example function ``fn`` with fixed keyword options.

    Subclasses set ``fn`` (a staticmethod) and pass their options to ``__init__``; ``get_config`` returns them, so a
    subclass registered with ``keras.saving.register_keras_serializable`` reloads with the same options.
    """

    fn = None

    def __init__(self, *, name=None, reduction="sum_over_batch_size", dtype=None, **options):
        super().__init__(name=name or _snake_case(type(self).__name__), reduction=reduction, dtype=dtype)
        self.options = options

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.options)

    def get_config(self):
        return {**super().get_config(), **self.options}


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _kerazoo_losses() -> dict:
    """Every loss and regularizer the kerazoo.losses modules export, by its name (functions and classes)."""
    import kerazoo.losses as package

    found = {}
    for name, obj in vars(package).items():
        module = getattr(obj, "__module__", "") or ""
        if name.startswith("_") or not module.startswith("kerazoo.losses.") or module == __name__:
            continue
        is_loss_class = inspect.isclass(obj) and issubclass(obj, (keras.losses.Loss, keras.regularizers.Regularizer))
        if is_loss_class or inspect.isfunction(obj):
            found[name] = obj
    return found


def _keras_losses() -> dict:
    names = [n for n in dir(keras.losses) if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]
    return {n: getattr(keras.losses, n) for n in names if callable(getattr(keras.losses, n))}


def available() -> list[str]:
    """Names ``get`` accepts: the kerazoo losses first, then Keras's."""
    return sorted(_kerazoo_losses()) + sorted(set(_keras_losses()) - set(_kerazoo_losses()))


def get(identifier, **options):
    """A loss from a name, a serialized config, a class or an instance.

    Args:
        identifier: a kerazoo or Keras loss name, as function (``"multiclass_hinge"``) or class
            (``"MulticlassHinge"``); a config dict as written by ``keras.saving.serialize_keras_object``; a loss
            class (instantiated with ``options``); or a loss instance / callable (returned as is).
        **options: arguments of the loss (``margin=2.0``, ``label_smoothing=0.1``).

    A function name whose loss has a class (``multiclass_hinge`` → ``MulticlassHinge``) gives an instance of that
    class, so the loss and its options are saved with a compiled model and reload by name.

    Raises:
        ValueError: unknown name (with close matches), or options the loss does not take.
    """
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier, custom_objects=_kerazoo_losses())
    if isinstance(identifier, str):
        identifier = _resolve_name(identifier)
    if inspect.isfunction(identifier):
        identifier = _class_of(identifier) or (_fail_options(identifier) if options else identifier)
    if inspect.isclass(identifier):
        _check_options(identifier, options)
        return identifier(**options)
    if options:
        raise ValueError(f"Invalid options for the loss {identifier!r}: an instance takes none. Received: {options!r}")
    if not callable(identifier):
        raise ValueError(f"Invalid loss: expected a name, a config dict, a class or a callable. Received: {identifier!r}")
    return identifier


def _resolve_name(name: str):
    for table in (_kerazoo_losses(), _keras_losses()):
        if name in table:
            return table[name]
    try:
        return keras.losses.get(name)  # Keras's aliases (mse, mae, ...)
    except ValueError:
        pass
    names = available()
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown loss {name!r}.{hint} Known kerazoo losses: {', '.join(sorted(_kerazoo_losses()))} "
                     f"(and every keras.losses name).")


def _class_of(function):
    """The Loss class of a loss function (the same name in CamelCase), or None."""
    camel = "".join(part.capitalize() for part in function.__name__.split("_"))
    for table in (_kerazoo_losses(), _keras_losses()):
        for name, obj in table.items():
            if inspect.isclass(obj) and issubclass(obj, keras.losses.Loss) and name.lower() == camel.lower():
                return obj
    return None


def _fail_options(function):
    raise ValueError(f"Invalid options for the loss function {function.__name__!r}: it has no Loss class to hold "
                     f"them; pass the class name instead.")


def _check_options(cls, options: dict) -> None:
    signature = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = sorted(set(options) - set(signature.parameters))
    if unknown:
        allowed = [p for p in signature.parameters if p != "self"]
        raise ValueError(f"Invalid options for the loss {cls.__name__}: {', '.join(unknown)}. "
                         f"Allowed: {', '.join(allowed)}. Received: {options!r}")

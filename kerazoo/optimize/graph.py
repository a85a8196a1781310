"""Walk a functional Keras 3 model's graph (from its public ``get_config``) and rebuild it with other layers.

One walker serves two rebuilds: the tf_keras bridge (every layer replaced by its tf_keras twin) and the low-rank
factorization (some layers replaced by a pair). ``make_layer(layer)`` returns the callable that replaces ``layer``
(called once per node, so shared layers stay shared); ``make_input(layer)`` returns the new input tensor.
"""

from __future__ import annotations

from typing import Callable

import keras

KERAS_TENSOR = "__keras_tensor__"


def check_functional(model) -> None:
    """Only functional models have a graph in their config; say so for the others."""
    if not isinstance(model, keras.Model) or not hasattr(model, "_operations") or "layers" not in _config(model):
        raise ValueError(
            f"Expected a functional Keras 3 model (built with keras.Input and layer calls, as every kerazoo zoo model "
            f"is). Received: model={type(model).__name__}"
        )


def _config(model) -> dict:
    try:
        return model.get_config() or {}
    except NotImplementedError:
        return {}


def _history_refs(value):
    """Every ``keras_history`` reference (layer name, node index, tensor index) inside a serialized call argument."""
    if isinstance(value, dict):
        if value.get("class_name") == KERAS_TENSOR:
            return [tuple(value["config"]["keras_history"])]
        return [ref for v in value.values() for ref in _history_refs(v)]
    if isinstance(value, (list, tuple)):
        return [ref for v in value for ref in _history_refs(v)]
    return []


def _resolve(value, tensors: dict):
    """Replace serialized tensors in a call argument by the rebuilt ones (lists, dicts and constants kept)."""
    if isinstance(value, dict):
        if value.get("class_name") == KERAS_TENSOR:
            name, node, index = value["config"]["keras_history"]
            return tensors[(name, node)][index]
        return {k: _resolve(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, tensors) for v in value]
    return value


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _endpoints(spec) -> list:
    """``input_layers``/``output_layers`` of a config: one [name, node, index] triple or a list of them."""
    if spec and isinstance(spec[0], str):
        return [tuple(spec)]
    return [tuple(s) for s in spec]


def rebuild_graph(model, make_input: Callable, make_layer: Callable):
    """Rebuild ``model``'s graph: returns (inputs, outputs) of the new graph, in the model's order.

    Raises:
        ValueError: ``model`` is not functional.
    """
    check_functional(model)
    config = model.get_config()
    tensors: dict[tuple[str, int], list] = {}
    pending = []
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        if isinstance(layer, keras.layers.InputLayer):
            tensors[(entry["name"], 0)] = [make_input(layer)]
            continue
        pending += [(layer, index, node) for index, node in enumerate(entry["inbound_nodes"])]
    replacements = {}
    while pending:  # nodes whose inputs exist; repeat until all are built (the config order may not be topological)
        ready = [p for p in pending if all(ref[:2] in tensors for ref in _history_refs(p[2]))]
        if not ready:
            names = ", ".join(sorted({p[0].name for p in pending}))
            raise ValueError(f"Cannot rebuild the graph of {model.name!r}: unresolved inputs for layers {names}.")
        for layer, index, node in ready:
            if layer.name not in replacements:
                replacements[layer.name] = make_layer(layer)
            args = _resolve(node["args"], tensors)
            kwargs = _resolve(node.get("kwargs", {}), tensors)
            tensors[(layer.name, index)] = _as_list(replacements[layer.name](*args, **kwargs))
        pending = [p for p in pending if p not in ready]
    inputs = [tensors[(name, node)][index] for name, node, index in _endpoints(config["input_layers"])]
    outputs = [tensors[(name, node)][index] for name, node, index in _endpoints(config["output_layers"])]
    return inputs, outputs


def unwrap(tensors: list):
    """A single tensor for a single-input/-output model (what ``keras.Model(inputs, outputs)`` is usually given)."""
    return tensors[0] if len(tensors) == 1 else tensors

"""Will a SavedModel load in real TF Serving? ``saved_model_cli``-level checks of an exported version.

:func:`check_saved_model` reads ``saved_model.pb`` (no TensorFlow graph is run) and reports, as a list of
problems (empty when fine): a missing ``serve`` MetaGraph or ``serving_default`` signature, signature tensors with
dtypes that cannot cross TF Serving's APIs (resource, variant), unknown method names, and ops that are not
registered in TensorFlow itself (custom ops, which the stock ``tensorflow/serving`` image does not have). With
``contract=True`` it also checks kerazoo's model-repository contract (``images`` float32 [batch, H, W, C] in;
``probabilities`` and ``logits`` float32 [batch, classes] out).
"""

from __future__ import annotations

import os

from kerazoo.serving.repository import (
    CLASSIFY_METHOD, DEFAULT_SIGNATURE, INIT_OP_SIGNATURE, PREDICT_METHOD, REGRESS_METHOD, list_versions,
    load_saved_model_proto,
)

_BAD_DTYPES = {"DT_INVALID", "DT_RESOURCE", "DT_VARIANT"}
_METHODS = {PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD}


def used_ops(meta_graph) -> set[str]:
    """Every op type in the graph and its function library."""
    ops = {node.op for node in meta_graph.graph_def.node}
    for function in meta_graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def check_saved_model(path: str, *, contract: bool = True) -> list[str]:
    """Problems that would stop TF Serving (or a kerazoo client) from using the SavedModel in ``path``."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import op_def_registry

    try:
        proto = load_saved_model_proto(path)
    except Exception as error:
        return [f"cannot read the SavedModel: {type(error).__name__}: {error}"]
    graphs = [m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags]
    if not graphs:
        return ["no MetaGraph tagged 'serve' (TF Serving loads the 'serve' tag set)"]
    meta_graph = graphs[0]
    problems = []
    signatures = meta_graph.signature_def
    if DEFAULT_SIGNATURE not in signatures:
        problems.append(f"no '{DEFAULT_SIGNATURE}' signature (found: {sorted(signatures)})")
    function_names = {f.signature.name for f in meta_graph.graph_def.library.function}
    for key, signature in signatures.items():
        if key == INIT_OP_SIGNATURE:
            continue
        if signature.method_name not in _METHODS:
            problems.append(f"signature {key!r}: unknown method_name {signature.method_name!r}")
        if not signature.outputs:
            problems.append(f"signature {key!r}: no outputs")
        for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
            for name, info in tensors.items():
                dtype = types_pb2.DataType.Name(info.dtype)
                if dtype in _BAD_DTYPES:
                    problems.append(f"signature {key!r}: {kind} {name!r} has dtype {dtype}, which TF Serving cannot "
                                    "send or receive")
                if not info.name:
                    problems.append(f"signature {key!r}: {kind} {name!r} is not bound to a graph tensor")
    unknown = sorted(op for op in used_ops(meta_graph) if op not in function_names and op_def_registry.get(op) is None)
    if unknown:
        problems.append(f"ops not registered in TensorFlow (custom ops TF Serving lacks): {', '.join(unknown)}")
    if contract and DEFAULT_SIGNATURE in signatures:
        problems += _check_contract(signatures[DEFAULT_SIGNATURE])
    return problems


def _check_contract(signature) -> list[str]:
    from tensorflow.core.framework import types_pb2

    problems = []
    if set(signature.inputs) != {"images"}:
        problems.append(f"serving_default must take one input 'images'; it takes {sorted(signature.inputs)}")
    else:
        info = signature.inputs["images"]
        dims = [d.size for d in info.tensor_shape.dim]
        if info.dtype != types_pb2.DT_FLOAT:
            problems.append(f"'images' must be DT_FLOAT; it is {types_pb2.DataType.Name(info.dtype)}")
        if info.tensor_shape.unknown_rank or len(dims) != 4 or dims[0] != -1:
            problems.append(f"'images' must be [batch, H, W, C] with a free batch size; it is {dims}")
    for name in ("probabilities", "logits"):
        info = signature.outputs.get(name)
        if info is None:
            problems.append(f"serving_default has no output {name!r} (outputs: {sorted(signature.outputs)})")
        elif info.dtype != types_pb2.DT_FLOAT or len(info.tensor_shape.dim) != 2:
            problems.append(f"output {name!r} must be DT_FLOAT [batch, classes]")
    return problems


def check_repository(repo: str, *, contract: bool = True) -> dict[str, list[str]]:
    """``{"NAME/VERSION": problems}`` for every version of every model folder in ``repo``."""
    results = {}
    if not os.path.isdir(repo):
        return results
    for name in sorted(os.listdir(repo)):
        for version, path in sorted(list_versions(os.path.join(repo, name)).items()):
            results[f"{name}/{version}"] = check_saved_model(path, contract=contract)
    return results


def describe(path: str) -> str:
    """A short ``saved_model_cli show --all``-like text: each signature's method, inputs and outputs."""
    from tensorflow.core.framework import types_pb2

    proto = load_saved_model_proto(path)
    lines = []
    for meta_graph in proto.meta_graphs:
        lines.append(f"MetaGraph tags: {', '.join(meta_graph.meta_info_def.tags)}")
        for key, signature in sorted(meta_graph.signature_def.items()):
            lines.append(f"  signature {key!r} ({signature.method_name or '-'})")
            for kind, tensors in (("in ", signature.inputs), ("out", signature.outputs)):
                for name, info in sorted(tensors.items()):
                    dims = "<unknown>" if info.tensor_shape.unknown_rank else \
                        "[" + ",".join(str(d.size) for d in info.tensor_shape.dim) + "]"
                    lines.append(f"    {kind} {name}: {types_pb2.DataType.Name(info.dtype)} {dims}")
    return "\n".join(lines)

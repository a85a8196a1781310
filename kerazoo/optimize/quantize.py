"""Quantization: post-training TFLite (dynamic-range, float16, full-integer int8) and quantization-aware training.

Post-training modes (TFLite converter; Jacob et al., 2018, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference"):

- ``float32``: no quantization (the reference).
- ``dynamic``: int8 weights, float activations (quantized on the fly); no data needed.
- ``float16``: float16 weights; half the size, float arithmetic.
- ``int8``: int8 weights *and* activations, calibrated on representative raw images from the training split;
  uint8 raw-pixel input, float32 outputs (kerazoo.export's int8 contract).

Quantization-aware training (:func:`quantization_aware`) inserts fake-quantization into the tf_keras twin
(tfmot ``quantize_apply``), fine-tunes it, and is then converted to int8 like any SavedModel.

Float32 and int8 files are written by :func:`kerazoo.export.exporter.write_tflite`; this module only adds the two
modes it does not offer.
"""

from __future__ import annotations

import os

import numpy as np

from kerazoo.export.exporter import write_saved_model, write_tflite

MODES = ("float32", "dynamic", "float16", "int8")
TFLITE_FILES = {"float32": "model.tflite", "dynamic": "model_dynamic.tflite", "float16": "model_float16.tflite",
                "int8": "model_int8.tflite"}
"""File name of each mode inside a model-repository version (float32 and int8 as kerazoo.export names them)."""


def check_mode(mode: str) -> str:
    if mode not in MODES:
        import difflib

        close = difflib.get_close_matches(str(mode), MODES, 2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Invalid quantization: expected one of {', '.join(MODES)}. Received: quantize={mode!r}.{hint}"
        )
    return mode


def convert_tflite(saved_model: str, path: str, mode: str = "float32", representative: np.ndarray | None = None):
    """Convert a kerazoo SavedModel (``serving_default``: images → probabilities, logits) to a TFLite file."""
    import tensorflow as tf

    check_mode(mode)
    if mode == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 quantization needs representative images (raw pixels from the training split).")
        return write_tflite(saved_model, path, representative)
    if mode == "float32":
        return write_tflite(saved_model, path)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    with open(path, "wb") as f:
        f.write(converter.convert())


def write_saved_model_any(model, path: str) -> None:
    """kerazoo's SavedModel contract for a Keras 3 model (kerazoo.export) or a tf_keras one (e.g. after QAT)."""
    import keras

    if isinstance(model, keras.Model):
        write_saved_model(model, path)
    else:
        from kerazoo.optimize.bridge import write_tf_keras_saved_model

        write_tf_keras_saved_model(model, path)


def write_tflite_files(model, folder: str, modes=("float32", "int8"), representative=None) -> dict[str, str]:
    """SavedModel of ``model`` into ``folder`` (kept: it is the servable artifact) plus one TFLite file per mode.

    Returns:
        mode → TFLite path.
    """
    for mode in modes:
        check_mode(mode)
    write_saved_model_any(model, folder)
    paths = {}
    for mode in modes:
        paths[mode] = os.path.join(folder, TFLITE_FILES[mode])
        convert_tflite(folder, paths[mode], mode, representative)
    return paths


def _quantizable(layer) -> bool:
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry,
    )

    return default_8bit_quantize_registry.Default8BitQuantizeRegistry().supports(layer)


def annotate_for_qat(tf_keras_model, *, skip=()):
    """Annotate every layer tfmot's default 8-bit scheme supports (others, such as the normalization ``Rescaling``,
    stay float and are quantized by the converter from representative data)."""
    import tf_keras
    from tensorflow_model_optimization.quantization.keras import quantize_annotate_layer

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        return quantize_annotate_layer(clone) if layer.name not in skip and _quantizable(layer) else clone

    annotated = tf_keras.models.clone_model(tf_keras_model, clone_function=annotate)
    from kerazoo.optimize.prune import copy_into_wrapped

    copy_into_wrapped(tf_keras_model, annotated)
    return annotated


def quantization_aware(model, train_ds, *, epochs: int = 1, lr: float = 1e-5, steps_per_epoch: int | None = None,
                       scheme=None, verbose: int = 0):
    """Quantization-aware fine-tuning of a Keras 3 (or tf_keras) model; returns the tf_keras QAT model (convert it
    with ``write_tflite_files(qat, folder, ["int8"], representative)``).

    Args:
        scheme: a tfmot QuantizeScheme (default 8-bit); e.g. ``Default8BitClusterPreserveQuantizeScheme(True)`` keeps
            the clusters and zeros of an earlier prune/cluster stage.
    """
    import keras
    from tensorflow_model_optimization.quantization.keras import quantize_apply, quantize_scope

    from kerazoo.optimize.bridge import to_tf_keras
    from kerazoo.optimize.finetune import fine_tune

    tf_model = to_tf_keras(model) if isinstance(model, keras.Model) else model
    annotated = annotate_for_qat(tf_model)
    with quantize_scope():
        qat = quantize_apply(annotated, scheme) if scheme is not None else quantize_apply(annotated)
    if epochs > 0:
        fine_tune(qat, train_ds, epochs=epochs, lr=lr, steps_per_epoch=steps_per_epoch, verbose=verbose)
    return qat


def tflite_tensor_types(path: str) -> dict[str, list]:
    """Per op of a TFLite file: its name and the dtypes of its input and output tensors (to check what runs in int8)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = []
    for op in interpreter._get_ops_details():  # the only way to list ops; stable since TF 2.5
        ops.append({
            "op": op["op_name"],
            "inputs": [np.dtype(tensors[i]["dtype"]).name for i in op["inputs"] if i >= 0],
            "outputs": [np.dtype(tensors[i]["dtype"]).name for i in op["outputs"]],
        })
    return {"ops": ops}


def preserving_scheme(*, sparsity: bool = False, clusters: bool = False):
    """tfmot's collaborative-optimization QAT scheme keeping pruned zeros (PQAT) and/or cluster values (CQAT/PCQAT),
    or None (the default scheme) when neither is asked.

    Their registries in tfmot 0.8.1 claim to support every weightless layer, then fail on the model's normalization
    ``Rescaling`` layer; the returned scheme supports only what the default 8-bit registry supports.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        cluster_preserve_quantize_registry,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
        prune_preserve_quantize_registry,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_scheme

    if clusters:
        base, args = cluster_preserve_quantize_registry.Default8bitClusterPreserveQuantizeRegistry, (sparsity,)
    elif sparsity:
        base, args = prune_preserve_quantize_registry.Default8bitPrunePreserveQuantizeRegistry, ()
    else:
        return None

    class Registry(base):
        def supports(self, layer):
            return _quantizable(layer) and super().supports(layer)

    class Scheme(default_8bit_quantize_scheme.Default8BitQuantizeScheme):
        def get_quantize_registry(self):
            return Registry(*args)

    return Scheme()

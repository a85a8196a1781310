"""The export formats as one table: each format's file in a version folder, its writer, its parity rule and its
reader. ``export_run`` writes and checks the formats a caller asks for by walking this table, ``load_predictor``
reads an artifact through it, and a new format is one more row.

Writers take the version's SavedModel (the source of every other format, so constants are frozen as served), the
output path and, for calibrated formats, raw training pixels. Parity rules take the figures of
``kerazoo.export.exporter.parity`` and say the limit and whether it holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kerazoo.export import runtime

FLOAT_TOLERANCE = 1e-4  # max |logit diff| relative to the logit range
INT8_MIN_AGREEMENT = 0.98  # top-1 agreement


def logits_close(figures: dict) -> tuple[str, bool]:
    """Float formats: the logits agree within FLOAT_TOLERANCE of the Keras model's logit range."""
    return f"relative_logit_diff <= {FLOAT_TOLERANCE}", figures["relative_logit_diff"] <= FLOAT_TOLERANCE


def top1_agrees(figures: dict) -> tuple[str, bool]:
    """Quantized formats: the top-1 class agrees with the Keras model's on INT8_MIN_AGREEMENT of the images."""
    return f"top1_agreement >= {INT8_MIN_AGREEMENT}", figures["top1_agreement"] >= INT8_MIN_AGREEMENT


def write_tflite(saved_model: str, path: str, representative: np.ndarray | None = None) -> None:
    """Float TFLite, or with ``representative`` raw pixels, full-integer int8 (uint8 input, float outputs)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["serving_default"])
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([representative[i : i + 1]] for i in range(len(representative)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    with open(path, "wb") as f:
        f.write(converter.convert())


def write_onnx(saved_model: str, path: str, representative=None, *, opset: int = 17) -> None:
    """ONNX via tf2onnx from the SavedModel (the artifact users serve), so constants are frozen as served."""
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model, "--signature_def",
               "serving_default", "--opset", str(opset), "--output", path]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.returncode != 0 or not os.path.exists(path):
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"tf2onnx failed to convert {saved_model}:\n{tail}")


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: the name ``--formats`` takes and ``export_report.json`` keys by.
        file: its file in the version folder (``saved_model.pb`` marks the SavedModel, which is the folder itself).
        writer: ``(saved_model_dir, path, representative)`` → writes ``path``; None for the SavedModel, which
            ``write_saved_model`` writes first as the source of the others.
        parity: ``(figures)`` → (limit text, passed), the rule the format is published under.
        reader: ``(path)`` → a :class:`~kerazoo.export.runtime.Predictor` of raw pixels → logits.
        calibrated: the writer takes raw training images (int8 calibration); others get None.
        label: what the export log says while writing it.
    """

    name: str
    file: str
    writer: Callable | None
    parity: Callable[[dict], tuple[str, bool]]
    reader: Callable[[str], runtime.Predictor]
    calibrated: bool = False
    label: str = ""


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("saved_model", "saved_model.pb", None, logits_close, runtime.saved_model_predictor,
           label="SavedModel"),
    Format("tflite", "model.tflite", write_tflite, logits_close, runtime.tflite_predictor, label="TFLite (float)"),
    Format("tflite_int8", "model_int8.tflite", write_tflite, top1_agrees, runtime.tflite_predictor, calibrated=True,
           label="TFLite (int8, calibrated on training images)"),
    Format("onnx", "model.onnx", write_onnx, logits_close, runtime.onnx_predictor, label="ONNX"),
)}

FORMAT_FILES = {name: f.file for name, f in FORMATS.items()}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise ValueError(f"Invalid format: expected one of {', '.join(FORMATS)}. Received: format={name!r}")
    return FORMATS[name]


def artifact_path(version_dir: str, name: str) -> str:
    """Where format ``name`` lives in a version folder (the folder itself for the SavedModel)."""
    return version_dir if name == "saved_model" else os.path.join(version_dir, get_format(name).file)


def reader_for_file(path: str) -> Callable[[str], runtime.Predictor] | None:
    """The reader of a single-file artifact by its suffix (``.tflite`` files read int8 or float alike), or None."""
    for fmt in FORMATS.values():
        if fmt.writer is not None and path.endswith(os.path.splitext(fmt.file)[1]):
            return fmt.reader
    return None

"""The figures of a compressed model: accuracy, raw and gzip size, TFLite latency, sparsity, distinct weight values.

Sizes are measured on files: the ``.keras`` checkpoint and the float32 TFLite file of each stage (the deployable
form), raw and gzip-compressed — pruned zeros and shared cluster values only pay off once compressed
(Han et al., 2016, "Deep Compression", use Huffman coding; gzip stands in for it here).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time

import numpy as np

from kerazoo.optimize.finetune import kernel_of, overall_sparsity

COLUMNS = [  # (key, header, width, value format; sizes are shown in KB)
    ("stage", "stage", 12, "{}"),
    ("accuracy", "accuracy", 10, "{:.4f}"),
    ("keras_bytes", ".keras KB", 11, "{:.1f}"),
    ("tflite_bytes", "tflite KB", 11, "{:.1f}"),
    ("tflite_gzip_bytes", "gzip KB", 10, "{:.1f}"),
    ("size_ratio", "x dense", 9, "{:.3f}"),
    ("latency_ms", "latency ms", 12, "{:.3f}"),
    ("sparsity", "sparsity", 10, "{:.3f}"),
    ("max_unique_weights", "unique w", 10, "{}"),
]


def gzip_size(path: str) -> int:
    """Bytes of ``path`` gzip-compressed (a directory is tarred first)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as out:
        if os.path.isdir(path):
            with tarfile.open(fileobj=out, mode="w") as tar:
                tar.add(path, arcname=".")
        else:
            with open(path, "rb") as f:
                out.write(f.read())
    return buffer.tell()


def tflite_latency_ms(path: str, image: np.ndarray, *, runs: int = 50, warmup: int = 5) -> float:
    """Median milliseconds of one single-image TFLite inference (XNNPACK on this CPU)."""
    from kerazoo.export.runtime import load_predictor

    run = load_predictor(path).fn
    batch = np.asarray(image, np.float32)[None]
    for _ in range(warmup):
        run(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def max_unique_weights(model) -> int:
    """The largest number of distinct values in any kernel (<= k after k-cluster weight sharing)."""
    counts = [len(np.unique(np.asarray(kernel_of(layer)))) for layer in model.layers if kernel_of(layer) is not None]
    return max(counts) if counts else 0


def stage_row(stage: str, *, accuracy: float, keras_path: str | None, tflite_path: str, latency_image: np.ndarray,
              model=None, latency_runs: int = 50) -> dict:
    """One row of the report for a stage (``model``: the float Keras model, for sparsity and distinct values)."""
    row = {
        "stage": stage,
        "accuracy": accuracy,
        "keras_bytes": os.path.getsize(keras_path) if keras_path else None,
        "keras_gzip_bytes": gzip_size(keras_path) if keras_path else None,
        "tflite_bytes": os.path.getsize(tflite_path),
        "tflite_gzip_bytes": gzip_size(tflite_path),
        "latency_ms": tflite_latency_ms(tflite_path, latency_image, runs=latency_runs),
        "sparsity": overall_sparsity(model) if model is not None else None,
        "max_unique_weights": max_unique_weights(model) if model is not None else None,
    }
    return row


def add_ratios(rows: list[dict]) -> list[dict]:
    """``size_ratio``: each stage's gzip TFLite size over the first (dense float) stage's."""
    if rows:
        base = rows[0]["tflite_gzip_bytes"]
        for row in rows:
            row["size_ratio"] = row["tflite_gzip_bytes"] / base
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table (missing figures as '-')."""

    def align(key, width, text):
        return text.ljust(width) if key == "stage" else text.rjust(width)

    def cell(key, width, fmt, value):
        return align(key, width, "-" if value is None else fmt.format(value / 1024 if key.endswith("bytes") else value))

    lines = ["".join(align(key, width, header) for key, header, width, _ in COLUMNS)]
    lines += ["".join(cell(key, width, fmt, row.get(key)) for key, _, width, fmt in COLUMNS) for row in rows]
    return "\n".join(lines)


def write_report(path: str, report: dict) -> None:
    from kerazoo.io import atomic_write_text

    atomic_write_text(path, json.dumps(report, indent=1) + "\n")

"""Evaluate artifacts on a dataset split: one artifact, or every format of a model-repository version side by side."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from kerazoo import datasets
from kerazoo.export.runtime import load_predictor

log = logging.getLogger(__name__)  # stage lines; the kerazoo command prints them on stderr (not with --quiet)


def _split_arrays(dataset: str, split: str, data_dir, limit: int | None):
    batches = datasets.load(dataset, split, data_dir=data_dir, batch_size=512, shuffle=False, limit=limit)
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in batches])
    return np.concatenate(images), np.concatenate(labels)


def _resolve_data(path: str, dataset: str | None, split: str | None, data_dir):
    """Dataset and split from the arguments, else from the run or version metadata beside ``path``."""
    config = None
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    from kerazoo.runs import RunDir

    if RunDir(folder).exists():
        from kerazoo.training.run import load_run_config

        config = load_run_config(folder)
    elif os.path.exists(os.path.join(folder, "kerazoo.json")):
        with open(os.path.join(folder, "kerazoo.json"), encoding="utf-8") as f:
            meta = json.load(f)
        run = meta.get("run")
        if run and RunDir(run).exists():
            from kerazoo.training.run import load_run_config

            config = load_run_config(run)
        dataset = dataset or meta.get("dataset")
    if config is not None:
        dataset = dataset or config.data.dataset
        split = split or config.data.test_split
        data_dir = data_dir or config.data.data_dir
    if dataset is None:
        raise ValueError(f"Cannot tell which dataset {path} was trained on; pass --dataset.")
    return dataset, split or "test", data_dir


def evaluate_artifact(path: str, *, dataset=None, split=None, data_dir=None, limit=None, fmt=None) -> dict:
    """Accuracy of one artifact (run, .keras, SavedModel, .tflite, .onnx) on a split."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    dataset, split, data_dir = _resolve_data(path, dataset, split, data_dir)
    predictor = load_predictor(path, fmt)
    images, labels = _split_arrays(dataset, split, data_dir, limit)
    logits = predictor(images)
    return {
        "path": path, "format": predictor.fmt, "dataset": dataset, "split": split, "examples": int(len(labels)),
        "accuracy": float(np.mean(np.argmax(logits, -1) == labels)),
    }


def compare_formats(version_dir: str, *, split=None, data_dir=None, limit=None) -> list[dict]:
    """Every artifact of a version on the test split: file size, accuracy, and max |logit diff| against the
    run's Keras model (the checkpoint it was exported from)."""
    with open(os.path.join(version_dir, "kerazoo.json"), encoding="utf-8") as f:
        meta = json.load(f)
    dataset, split, data_dir = _resolve_data(version_dir, None, split, data_dir)
    images, labels = _split_arrays(dataset, split, data_dir, limit)
    with open(os.path.join(version_dir, "export_report.json"), encoding="utf-8") as f:
        report = json.load(f)
    rows = []
    reference = None
    run = meta.get("run")
    if run and os.path.isdir(run):
        from kerazoo.runs import RunDir

        log.info("evaluating the run's Keras model on %d images", len(images))
        checkpoint = meta.get("checkpoint", "best")
        model = RunDir(run).load_model(checkpoint)
        reference = np.asarray(model.predict(images, verbose=0, batch_size=512), dtype=np.float32)
        rows.append({"format": "keras", "bytes": os.path.getsize(RunDir(run).find_checkpoint(checkpoint)),
                     "accuracy": float(np.mean(np.argmax(reference, -1) == labels)), "max_abs_logit_diff": 0.0})
    for fmt in meta["formats"]:
        log.info("evaluating %s on %d images", fmt, len(images))
        predictor = load_predictor(version_dir, fmt)
        logits = predictor(images)
        rows.append({
            "format": fmt,
            "bytes": report["formats"][fmt]["bytes"],
            "accuracy": float(np.mean(np.argmax(logits, -1) == labels)),
            "max_abs_logit_diff": None if reference is None else float(np.max(np.abs(logits - reference))),
        })
    for row in rows:
        row.update(dataset=dataset, split=split, examples=int(len(labels)))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'format':<13}{'size':>11}{'test accuracy':>15}{'max |logit diff|':>18}"]
    for r in rows:
        diff = "n/a" if r["max_abs_logit_diff"] is None else f"{r['max_abs_logit_diff']:.2e}"
        lines.append(f"{r['format']:<13}{r['bytes'] / 1024:>9.1f}KB{r['accuracy']:>15.4f}{diff:>18}")
    if rows:
        lines.append(f"({rows[0]['dataset']} {rows[0]['split']}, {rows[0]['examples']} examples)")
    return "\n".join(lines)

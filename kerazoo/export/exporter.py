"""``export_run``: a trained run → a model-repository version with SavedModel, TFLite (float, int8) and ONNX.

Every artifact takes raw pixels (float32 0-255, ``[batch, H, W, C]``, input ``images``; the int8 TFLite file takes
them as uint8) and returns ``probabilities`` and ``logits``, so a client needs no kerazoo code. Each format's logits
are compared with the Keras model's on examples of the run's validation split before the version is published:

- float formats: max |logit difference| <= 1e-4 x the logit range;
- int8: top-1 agreement >= 98 %.

A format over its limit fails the export with the figures, and no version appears. ``export_report.json`` also
records each format's speed through its predictor (``us_per_image`` at batch 1 and 32, median over calls on this
machine): LiteRT runs the int8 file's quantized ops with its default XNNPACK delegate, which on a convolutional
model makes int8 ~3x faster than float32 (BENCHMARKS.md, "int8 TFLite speed").
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time

import numpy as np

from kerazoo import datasets
from kerazoo.applications.common import write_sha256
from kerazoo.export import formats as export_formats  # the table; ``formats`` is the argument naming a selection
from kerazoo.export.formats import FORMAT_FILES, logits_close
from kerazoo.export.formats import write_onnx, write_tflite  # noqa: F401  (kerazoo.optimize writes TFLite with it)
from kerazoo.export.repository import new_version

log = logging.getLogger(__name__)  # stage lines; the kerazoo command prints them on stderr (not with --quiet)

FORMATS = tuple(export_formats.FORMATS)  # the names, in the table's order (kerazoo.export.formats)
BYTES_SIGNATURE = "serving_bytes"  # classifiers' second signature: encoded image files in, same outputs
CLASSIFY_SIGNATURE = "classify"  # classifiers' third: serialized tf.Examples in, TF Serving's classify outputs
CLASSIFY_METHOD = "tensorflow/serving/classify"
EXAMPLE_FEATURE = "images"  # the tf.Example feature holding an image's raw pixels, H*W*C floats in row-major order


def parse_formats(formats) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Invalid formats: expected names from {', '.join(FORMATS)}. Received: formats={list(formats)!r}")
    return tuple(dict.fromkeys(["saved_model", *formats]))  # the SavedModel is the source of the others


def write_saved_model(model, path: str, serving_outputs=None, *, class_names=None, input_shape=None) -> None:
    """SavedModel with ``serving_default``: ``images`` → {``probabilities``, ``logits``}, or, for other tasks,
    the named outputs of ``serving_outputs(model, images)`` (a Task's hook, e.g. segmentation masks).
    ``input_shape``: (H, W, C) of ``images`` when not the model's (e.g. (None, None, 3): any size).

    Classifiers of a fixed input size also get ``serving_bytes`` (encoded image files) and ``classify``, TF Serving's
    classification API: serialized tf.Examples (feature ``images``: the raw pixels, H*W*C floats) → ``classes``
    (``class_names``, default "0", "1", ...) and ``scores`` (the probabilities), both [batch, classes]."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        if serving_outputs is not None:
            return serving_outputs(model, images)
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": tf.nn.softmax(logits), "logits": logits}

    spec = tf.TensorSpec([None, *(input_shape or model.input_shape[1:])], tf.float32, name="images")
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=[spec])
    shape = tuple(model.input_shape[1:])
    classify = serving_outputs is None and None not in shape
    if classify:  # classifiers also take encoded files and tf.Examples
        archive.add_endpoint(name=BYTES_SIGNATURE, fn=lambda image_bytes: serve(decode_image_bytes(image_bytes, shape)),
                             input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        count = int(model.output_shape[-1])
        labels = tf.constant([str(c) for c in (class_names if class_names is not None else range(count))])
        if labels.shape[0] != count:
            raise ValueError(f"Invalid class_names: expected {count} names (the model's outputs). "
                             f"Received: {len(class_names)} names")

        def classify_examples(inputs):
            features = tf.io.parse_example(
                inputs, {EXAMPLE_FEATURE: tf.io.FixedLenFeature([int(np.prod(shape))], tf.float32)})
            scores = serve(tf.reshape(features[EXAMPLE_FEATURE], [-1, *shape]))["probabilities"]
            return {"classes": tf.tile(labels[None], [tf.shape(scores)[0], 1]), "scores": scores}

        archive.add_endpoint(name=CLASSIFY_SIGNATURE, fn=classify_examples,
                             input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    archive.write_out(path, verbose=False)
    if classify:
        _set_method_name(path, CLASSIFY_SIGNATURE, CLASSIFY_METHOD)


def _set_method_name(path: str, signature: str, method: str) -> None:
    """TF2's SavedModel writer marks every signature as predict; TF Serving routes ``:classify`` only to a signature
    whose SignatureDef says classify, so set it in ``saved_model.pb`` (the version folder is still a temp dir)."""
    from tensorflow.core.protobuf import saved_model_pb2

    from kerazoo.io import atomic_file

    pb = os.path.join(path, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        proto.ParseFromString(f.read())
    proto.meta_graphs[0].signature_def[signature].method_name = method
    with atomic_file(pb) as tmp, open(tmp, "wb") as f:
        f.write(proto.SerializeToString())


def decode_image_bytes(image_bytes, shape):
    """Encoded JPEG/PNG/BMP/GIF files ``[batch]`` (tf.string) → raw float32 pixels ``[batch, H, W, C]`` (0-255).

    Each file is decoded with the model's channel count (RGB → grayscale and back by the decoder) and resized
    (bilinear) only when its size differs, so an image already at the model's size reaches it bit for bit. The
    model normalizes the pixels itself, as it does on ``serving_default``.
    """
    import tensorflow as tf

    height, width, channels = shape

    def decode_one(data):
        image = tf.cast(tf.io.decode_image(data, channels=channels, expand_animations=False), tf.float32)
        same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
        image = tf.cond(same_size, lambda: image, lambda: tf.image.resize(image, [height, width]))
        return tf.ensure_shape(image, [height, width, channels])

    return tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32))


def write_warmup_requests(version_dir: str, name: str, images: np.ndarray, *, with_bytes: bool = True) -> str:
    """TF Serving's warm-up file ``assets.extra/tf_serving_warmup_requests``: a TFRecord of PredictionLogs, one
    ``serving_default`` request with ``images`` and, where the version has it, one ``serving_bytes`` request with
    the same images as PNG files. Servers replay them when the version loads, before it takes traffic."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from kerazoo.serving.repository import WARMUP_FILE  # the server that replays it owns the name

    requests = [("serving_default", "images", tf.make_tensor_proto(np.asarray(images, np.float32)))]
    if with_bytes:
        pngs = [tf.io.encode_png(tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)).numpy() for x in images]
        requests.append((BYTES_SIGNATURE, "image_bytes", tf.make_tensor_proto(pngs, dtype=tf.string)))
    path = os.path.join(version_dir, "assets.extra", WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, key, tensor in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.model_spec.name = name
            log.predict_log.request.model_spec.signature_name = signature
            log.predict_log.request.inputs[key].CopyFrom(tensor)
            writer.write(log.SerializeToString())
    return path


def speed(predict, images: np.ndarray, *, batches=(1, 32), calls: int = 20) -> dict:
    """Median microseconds per image of ``predict`` at each batch size (``images`` repeated to fill a batch)."""
    figures = {}
    for batch in batches:
        x = np.resize(images, (batch, *images.shape[1:])).astype(np.float32)
        predict(x)  # warm-up: a new batch size reallocates the interpreter's tensors
        times = []
        for _ in range(max(3, calls // batch)):
            start = time.perf_counter()
            predict(x)
            times.append(time.perf_counter() - start)
        figures[f"batch_{batch}"] = round(float(np.median(times)) / batch * 1e6, 2)
    return figures


def parity(reference: np.ndarray, logits: np.ndarray, fmt: str) -> dict:
    """Figures comparing a format's logits with the Keras model's, and whether they pass the format's limit."""
    max_abs = float(np.max(np.abs(reference - logits)))
    logit_range = float(np.max(reference) - np.min(reference)) or 1.0
    agreement = float(np.mean(np.argmax(reference, -1) == np.argmax(logits, -1)))
    report = {"max_abs_logit_diff": max_abs, "relative_logit_diff": max_abs / logit_range, "top1_agreement": agreement}
    # The format's rule from the table; optimize's other TFLite modes (dynamic, float16) are judged as float files.
    rule = export_formats.FORMATS[fmt].parity if fmt in export_formats.FORMATS else logits_close
    report["limit"], report["passed"] = rule(report)
    return report


def export_run(
    run_dir: str,
    repo: str,
    name: str,
    *,
    formats=FORMATS,
    version: int | None = None,
    parity_examples: int = 512,
    representative_examples: int = 256,
    checkpoint: str = "best",
) -> str:
    """Export a run's checkpoint into ``repo/name/<version>/``; returns the version directory.

    Raises:
        ValueError: a format exceeds its parity limit (the message has the figures); nothing is published.
    """
    from kerazoo.training.run import load_run_config, load_run_info
    from kerazoo.runs import RunDir

    formats = parse_formats(formats)
    config = load_run_config(run_dir)
    info = load_run_info(run_dir)
    model = RunDir(run_dir).load_model(checkpoint)
    from kerazoo.training.tasks import task_for_model

    task = task_for_model(config.model.name)
    if task.name != "classification":  # dense heads: their Task names the outputs (masks, boxes ...)
        return _export_task_run(task, model, config, info, run_dir, repo, name, version, checkpoint, formats)
    data = config.data
    check_split = data.val_split or data.train_split
    check_images, _ = datasets.split_arrays(data.dataset, check_split, data_dir=data.data_dir, limit=parity_examples,
                                           batch_size=min(parity_examples, 256))
    reference = np.asarray(model.predict(check_images, verbose=0, batch_size=256), dtype=np.float32)

    with new_version(repo, name, version) as (tmp, number):
        log.info("writing the SavedModel")
        write_saved_model(model, tmp, class_names=list(info.class_names))
        try:
            write_warmup_requests(tmp, name, check_images[:1], with_bytes=None not in model.input_shape[1:])
        except ModuleNotFoundError as error:  # the base install: TF Serving's protos come with the serving extra
            if (error.name or "").split(".")[0] != "tensorflow_serving":
                raise
            log.warning("no warm-up requests in the version (they need pip install \"kerazoo[serving]\")")
        representative = None  # raw training images, read once for the calibrated formats
        for fmt in formats:
            spec = export_formats.FORMATS[fmt]
            if spec.writer is None:  # the SavedModel, written above
                continue
            if spec.calibrated and representative is None:
                representative, _ = datasets.split_arrays(data.dataset, data.train_split, data_dir=data.data_dir,
                                                          limit=representative_examples,
                                                          batch_size=min(representative_examples, 256))
            log.info("converting to %s", spec.label)
            spec.writer(tmp, os.path.join(tmp, spec.file), representative if spec.calibrated else None)

        report = {"formats": {}, "parity_examples": int(len(check_images)), "parity_split": check_split}
        for fmt in formats:
            log.info("checking %s against the Keras model on %d images", fmt, len(check_images))
            path = tmp if fmt == "saved_model" else os.path.join(tmp, FORMAT_FILES[fmt])
            predictor = export_formats.FORMATS[fmt].reader(path)
            figures = parity(reference, predictor(check_images), fmt)
            figures["us_per_image"] = speed(predictor.fn, check_images)
            figures["file"] = FORMAT_FILES[fmt]
            figures["bytes"] = _size(path)
            if fmt != "saved_model":
                figures["sha256"] = write_sha256(path)  # PATH.sha256 beside the file, as train does for checkpoints
            report["formats"][fmt] = figures
        failed = {f: r for f, r in report["formats"].items() if not r["passed"]}
        if failed:
            details = "; ".join(
                f"{f}: max |logit diff| {r['max_abs_logit_diff']:.3g} (relative {r['relative_logit_diff']:.3g}), "
                f"top-1 agreement {r['top1_agreement']:.2%}, limit {r['limit']}"
                for f, r in failed.items()
            )
            raise ValueError(f"Export of {run_dir} failed its parity check, nothing was published: {details}")
        metadata = {
            "name": name,
            "version": number,
            "model": config.model.name,
            "task": "classification",
            "run": os.path.abspath(run_dir),
            "checkpoint": checkpoint,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "dataset": info.name,
            "input": {"name": "images", "shape": list(info.image_shape), "dtype": "float32", "range": [0, 255],
                      "preprocessing": "inside the model (normalization by the training split's mean/std)"},
            "outputs": ["probabilities", "logits"],
            "signatures": ["serving_default", *([BYTES_SIGNATURE, CLASSIFY_SIGNATURE]
                                                 if None not in model.input_shape[1:] else [])],
            "class_names": list(info.class_names),
            "formats": list(formats),
            "card": _card_fields(config.model.name, model, run_dir),
        }
        _write_json(os.path.join(tmp, "kerazoo.json"), metadata)
        _write_json(os.path.join(tmp, "export_report.json"), report)
    return os.path.join(repo, name, str(number))


def _export_task_run(task, model, config, info, run_dir, repo, name, version, checkpoint, formats) -> str:
    """A SavedModel whose ``serving_default`` returns ``task.serving_outputs``; parity: the reloaded signature's
    outputs against the Keras model's on a batch of the run's validation data."""
    import tensorflow as tf

    formats = ("saved_model",) if tuple(formats) == FORMATS else tuple(formats)  # the default: what exists
    if formats != ("saved_model",):
        raise ValueError(f"Invalid formats for a {task.name} run: only ['saved_model'] is exported so far. "
                         f"Received: formats={list(formats)}")
    images, _ = next(iter(task.batches(config, config.data.val_split or config.data.test_split, 8)))
    expected = {k: np.asarray(v) for k, v in task.serving_outputs(model, images).items()}
    # dense models trained on data of any size take images of any size and answer in their pixels
    outputs, input_shape = task.export_outputs(config, info) if hasattr(task, "export_outputs") else (
        task.serving_outputs, None)
    # keyword arguments: input_shape once went in by position as class_names, and the signature kept the model's size
    checks = [(images, expected)]
    if input_shape is not None:  # any size: also an image at its own size, answered in its pixels
        original = task.original_batches(config, config.data.val_split or config.data.test_split, 1)
        if original is not None:
            pixels = next(iter(original))[0]
            checks.append((pixels, {k: np.asarray(v) for k, v in
                                    task.original_outputs(model, pixels, config.data.resize).items()}))
    with new_version(repo, name, version) as (tmp, number):
        write_saved_model(model, tmp, outputs, input_shape=input_shape)
        signature = tf.saved_model.load(tmp).signatures["serving_default"]
        diffs, agreements = {}, []
        for pixels, wanted in checks:
            served = signature(images=tf.constant(pixels))
            for k, v in wanted.items():
                if np.issubdtype(v.dtype, np.integer):
                    # Integer outputs (masks, classes) agree element by element: the dense analogue of top-1
                    # agreement (an argmax may flip where two classes tie to float rounding)
                    agreements.append(float(np.mean(served[k].numpy() == v)))
                if not np.issubdtype(v.dtype, np.integer) or pixels is images:
                    diff = float(np.max(np.abs(served[k].numpy().astype(np.float64) - v)))
                    diffs[k] = max(diffs.get(k, 0.0), diff)
        tolerance = export_formats.FLOAT_TOLERANCE
        failed = {k: d for k, d in diffs.items() if d > tolerance * max(1.0, float(np.ptp(expected[k])))}
        if failed:
            raise ValueError(f"Export of {run_dir} failed its parity check, nothing was published: {failed}")
        agreement = min(agreements or [1.0])
        metadata = {
            "name": name, "version": number, "model": config.model.name, "task": task.name,
            "run": os.path.abspath(run_dir), "checkpoint": checkpoint,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "dataset": info.name, "input": {"name": "images", "shape": list(input_shape or info.image_shape),
                                            "dtype": "float32", "range": [0, 255],
                                            **({"model_size": list(info.image_shape[:2]),
                                                "resize": config.data.resize} if input_shape else {})},
            "outputs": sorted(expected), "class_names": list(info.class_names), "formats": ["saved_model"],
        }
        _write_json(os.path.join(tmp, "kerazoo.json"), metadata)
        figures = {"file": FORMAT_FILES["saved_model"], "bytes": _size(tmp), "max_abs_logit_diff": max(diffs.values()),
                   "max_abs_output_diff": diffs, "top1_agreement": agreement, "limit": f"{tolerance} x range",
                   "passed": True}
        _write_json(os.path.join(tmp, "export_report.json"), {"formats": {"saved_model": figures},
                                                              "parity_examples": int(len(images))})
    return os.path.join(repo, name, str(number))


def _card_fields(model_name: str, model, run_dir: str) -> dict:
    """The model-card facts a server shows in its metadata: the exported model's size and paper, and the run's
    measured accuracy (see kerazoo.applications.cards)."""
    from kerazoo.applications.cards import run_card_fields

    return run_card_fields(model_name, model, run_dir)


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    skip = set(FORMAT_FILES.values()) | {"kerazoo.json", "export_report.json"}
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if not (root == path and (f in skip or f.endswith(".sha256"))):
                total += os.path.getsize(os.path.join(root, f))
    return total


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")

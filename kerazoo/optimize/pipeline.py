"""Deep compression of a trained run (Han et al., 2016): prune → cluster → quantize, each stage fine-tuned on the
run's training split, measured after every stage, and published as a model-repository version. An optional first
stage factorizes Dense/Conv2D kernels by truncated SVD (``lowrank``: an energy ratio such as 0.9, or a rank).

    version_dir, report = compress_run("runs/lenet5", "models/lenet5_small", prune=0.8, cluster=16, quantize="int8",
                                       finetune_epochs=2)

The version (``OUT/VERSION/``, written by :func:`kerazoo.export.repository.new_version`, so it appears only
complete) holds the compressed model as ``model.keras``, its SavedModel (``serving_default``: images →
probabilities, logits), ``model.tflite`` (float32), the quantized TFLite file, ``kerazoo.json`` (as ``kerazoo
export`` writes it, plus the compression options), ``export_report.json`` (parity of each artifact against the
compressed Keras model) and ``optimize_report.json`` (one row per stage: accuracy, sizes, latency, sparsity).
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile

import numpy as np

from kerazoo.optimize.finetune import RunData, accuracy, layer_sparsity, without_optimizer
from kerazoo.optimize.report import add_ratios, format_table, stage_row, write_report

log = logging.getLogger(__name__)  # stage lines; the kerazoo command prints them on stderr (not with --quiet)


def _measure(stage: str, model, folder: str, data: dict, latency_runs: int) -> dict:
    """Save ``model`` (.keras and float32 TFLite) under ``folder`` and measure it."""
    from kerazoo.optimize.quantize import write_tflite_files

    os.makedirs(folder, exist_ok=True)
    keras_path = os.path.join(folder, "model.keras")
    without_optimizer(model).save(keras_path)
    tflite = write_tflite_files(model, os.path.join(folder, "saved_model"), ["float32"])["float32"]
    row = stage_row(stage, accuracy=accuracy(model.predict_on_batch, *data["test"]), keras_path=keras_path,
                    tflite_path=tflite, latency_image=data["test"][0][0], model=model, latency_runs=latency_runs)
    row["layer_sparsity"] = layer_sparsity(model)
    return row


def lowrank_arguments(lowrank) -> dict:
    """``lowrank`` as :func:`kerazoo.optimize.lowrank.factorize` takes it: an int >= 1 is a rank, a float in (0, 1]
    an energy ratio."""
    if isinstance(lowrank, bool) or not isinstance(lowrank, (int, float)):
        raise ValueError(f"Invalid lowrank: expected a rank (integer >= 1) or an energy ratio in (0, 1]. "
                         f"Received: lowrank={lowrank!r}")
    if isinstance(lowrank, int):
        if lowrank < 1:
            raise ValueError(f"Invalid lowrank: a rank must be >= 1. Received: lowrank={lowrank!r}")
        return {"rank": lowrank}
    if not 0.0 < lowrank <= 1.0:
        raise ValueError(f"Invalid lowrank: an energy ratio must be in (0, 1]. Received: lowrank={lowrank!r}")
    return {"energy": float(lowrank)}


def _check_options(prune, cluster, quantize, qat, finetune_epochs, lowrank=None, dsd=None):
    from kerazoo.optimize.cluster import check_clusters
    from kerazoo.optimize.prune import check_sparsity
    from kerazoo.optimize.quantize import check_mode

    if prune is not None:
        check_sparsity(prune)
    if cluster is not None:
        check_clusters(cluster)
    if quantize is not None:
        check_mode(quantize)
    if lowrank is not None:
        lowrank_arguments(lowrank)
    if dsd is not None:
        check_sparsity(dsd)
    if prune is None and cluster is None and quantize is None and lowrank is None and dsd is None:
        raise ValueError("Nothing to do: pass at least one of lowrank, dsd, prune, cluster, quantize.")
    if finetune_epochs < 0 or ((prune is not None or dsd is not None) and finetune_epochs < 1):
        raise ValueError(
            f"Invalid finetune_epochs: expected >= 0, and >= 1 when pruning or with dsd (masks update during "
            f"training). "
            f"Received: finetune_epochs={finetune_epochs}"
        )
    if qat and quantize != "int8":
        raise ValueError(f"qat=True needs quantize='int8'. Received: quantize={quantize!r}")


def compress_run(run_dir: str, out: str, *, lowrank: float | int | None = None, dsd: float | None = None,
                 prune: float | None = None,
                 cluster: int | None = None, quantize: str | None = None, qat: bool = False, finetune_epochs: int = 2,
                 schedule: str = "polynomial", exclude=(), m_by_n=None, lr: float = 1e-3, train_limit=None,
                 test_limit=None, representative_examples: int = 256, latency_runs: int = 50,
                 checkpoint: str = "best", version: int | None = None, seed: int = 0, verbose: int = 0):
    """Compress a run's checkpoint stage by stage and publish it as a new version of ``out`` (= REPO/NAME).

    Args:
        lowrank: factorize Dense/Conv2D kernels first, keeping this energy ratio (float, e.g. 0.9) or rank (int) per
            layer (:func:`kerazoo.optimize.lowrank.factorize`), then fine-tune; None to skip.
        dsd: dense-sparse-dense training at this sparsity (:func:`kerazoo.optimize.dsd.dsd_train`: ``finetune_epochs``
            sparse, then ``finetune_epochs`` re-dense at ``lr / 10``), measured against the run's model fine-tuned
            plainly for the same 2 x ``finetune_epochs`` at ``lr`` (stage "plain", not carried on); None to skip.
        prune: target sparsity (e.g. 0.8), or None to skip pruning.
        cluster: number of shared weight values per layer (e.g. 16), or None.
        quantize: "float32", "dynamic", "float16" or "int8" TFLite, or None (float32 TFLite only).
        qat: quantization-aware fine-tuning before int8 conversion (else post-training calibration).
        finetune_epochs: fine-tuning epochs of each stage on the run's training split.
        schedule, exclude, m_by_n: pruning options (:func:`kerazoo.optimize.prune.prune_model`).
        train_limit / test_limit: use only the first examples of the training / test split (quick runs).

    Returns:
        (version directory, report dict with one row per stage).
    """
    import keras

    from kerazoo.export.repository import new_version
    from kerazoo.export.runtime import load_predictor
    from kerazoo.optimize import cluster as clustering
    from kerazoo.optimize import prune as pruning
    from kerazoo.optimize import quantize as quantization
    from kerazoo.training.run import load_run_config, load_run_info
    from kerazoo.runs import RunDir

    _check_options(prune, cluster, quantize, qat, finetune_epochs, lowrank, dsd)
    keras.utils.set_random_seed(seed)
    run = RunData.from_run(run_dir)
    data = {"test": run.arrays(run.test_split, limit=test_limit)}
    train_ds = run.train(seed=seed, limit=train_limit)
    model = RunDir(run_dir).load_model(checkpoint)
    with tempfile.TemporaryDirectory(prefix="kerazoo-optimize-") as work:  # per-stage files, for measuring
        rows = [_measure("dense", model, os.path.join(work, "dense"), data, latency_runs)]
        ranks = None
        if lowrank is not None:
            log.info("low-rank factorization, then %d fine-tuning epochs", finetune_epochs)
            from kerazoo.optimize.finetune import fine_tune
            from kerazoo.optimize.lowrank import factorize

            model, ranks = factorize(model, **lowrank_arguments(lowrank))
            if finetune_epochs:
                fine_tune(model, train_ds, epochs=finetune_epochs, lr=lr, verbose=verbose)
            rows.append(_measure("lowrank", model, os.path.join(work, "lowrank"), data, latency_runs))
        if dsd is not None:
            from kerazoo.optimize.dsd import dsd_train
            from kerazoo.optimize.finetune import fine_tune

            log.info("plain fine-tuning over %d epochs (the baseline of dense-sparse-dense)", 2 * finetune_epochs)
            plain = without_optimizer(model)
            fine_tune(plain, train_ds, epochs=2 * finetune_epochs, lr=lr, verbose=verbose)
            rows.append(_measure("plain", plain, os.path.join(work, "plain"), data, latency_runs))
            log.info("dense-sparse-dense: %s sparsity over %d epochs, then %d dense epochs", dsd, finetune_epochs,
                     finetune_epochs)
            result = dsd_train(model, train_ds, sparsity=dsd, sparse_epochs=finetune_epochs,
                               redense_epochs=finetune_epochs, lr=lr, exclude=exclude, verbose=verbose)
            rows.append(_measure("dsd_sparse", result.sparse, os.path.join(work, "dsd_sparse"), data, latency_runs))
            model = result.model
            rows.append(_measure("dsd", model, os.path.join(work, "dsd"), data, latency_runs))
        if prune is not None:
            log.info("pruning to %s sparsity over %d epochs", m_by_n or prune, finetune_epochs)
            model = pruning.prune_model(model, train_ds, sparsity=prune, epochs=finetune_epochs, schedule=schedule,
                                        exclude=exclude, m_by_n=m_by_n, lr=lr, verbose=verbose)
            rows.append(_measure("pruned", model, os.path.join(work, "pruned"), data, latency_runs))
        if cluster is not None:
            log.info("clustering the weights into %d values over %d epochs", cluster, finetune_epochs)
            model = clustering.cluster_model(model, train_ds, clusters=cluster, epochs=finetune_epochs,
                                             exclude=exclude, preserve_sparsity=prune is not None, lr=lr / 10,
                                             verbose=verbose)
            rows.append(_measure("clustered", model, os.path.join(work, "clustered"), data, latency_runs))

        representative = run.representative(representative_examples) if quantize == "int8" else None
        config, info = load_run_config(run_dir), load_run_info(run_dir)
        repo, name = os.path.split(os.path.abspath(out))
        with new_version(repo, name, version) as (tmp, number):
            without_optimizer(model).save(os.path.join(tmp, "model.keras"))
            modes = ["float32"] + ([quantize] if quantize not in (None, "float32") and not qat else [])
            log.info("converting to TFLite (%s)", ", ".join(modes))
            files = quantization.write_tflite_files(model, tmp, modes, representative)
            if qat:
                log.info("quantization-aware training over %d epochs", finetune_epochs)
                scheme = quantization.preserving_scheme(sparsity=prune is not None, clusters=cluster is not None)
                qat_model = quantization.quantization_aware(model, train_ds, epochs=finetune_epochs, lr=lr / 10,
                                                            scheme=scheme, verbose=verbose)
                converted = quantization.write_tflite_files(qat_model, os.path.join(work, "qat"), ["int8"],
                                                            representative)["int8"]
                files["int8"] = os.path.join(tmp, quantization.TFLITE_FILES["int8"])
                os.replace(converted, files["int8"])
            if quantize not in (None, "float32"):
                rows.append(stage_row(
                    f"{'qat' if qat else 'ptq'}_{quantize}", accuracy=accuracy(load_predictor(files[quantize]),
                                                                               *data["test"]),
                    keras_path=None, tflite_path=files[quantize], latency_image=data["test"][0][0], model=model,
                    latency_runs=latency_runs))
            add_ratios(rows)
            options = {"lowrank": lowrank, "lowrank_ranks": ranks, "dsd": dsd, "prune": prune, "schedule": schedule if prune is not None else None, "m_by_n": m_by_n,
                       "exclude": list(exclude), "cluster": cluster, "quantize": quantize, "qat": qat,
                       "finetune_epochs": finetune_epochs, "train_limit": train_limit, "test_limit": test_limit}
            report = {"run": os.path.abspath(run_dir), "checkpoint": checkpoint, "options": options,
                      "test_split": run.test_split, "test_examples": int(len(data["test"][1])), "stages": rows,
                      "files": {mode: os.path.basename(path) for mode, path in files.items()}}
            write_report(os.path.join(tmp, "optimize_report.json"), report)
            write_report(os.path.join(tmp, "export_report.json"), _parity_report(model, tmp, files, data["test"][0]))
            formats = ["saved_model", "tflite"] + (["tflite_int8"] if "int8" in files else [])
            write_report(os.path.join(tmp, "kerazoo.json"),
                         _metadata(name, number, run_dir, checkpoint, formats, options, config, info))
    return os.path.join(os.path.abspath(out), str(number)), report


def _parity_report(model, version_dir: str, files: dict, images: np.ndarray, examples: int = 512) -> dict:
    """``export_report.json``: each artifact's logits against the compressed Keras model's (kerazoo.export's
    figures and limits; int8 is judged by top-1 agreement)."""
    from kerazoo.export.exporter import parity
    from kerazoo.export.runtime import load_predictor

    images = images[:examples]
    reference = np.asarray(model.predict(images, verbose=0), np.float32)
    artifacts = {"saved_model": version_dir, **{("tflite" if mode == "float32" else f"tflite_{mode}"): path
                                                for mode, path in files.items()}}
    report = {"reference": "model.keras", "parity_examples": int(len(images)), "formats": {}}
    for fmt, path in artifacts.items():
        figures = parity(reference, load_predictor(path)(images), fmt)
        report["formats"][fmt] = {**figures, "file": os.path.basename(path), "bytes": _size(path)}
    return report


def _metadata(name, number, run_dir, checkpoint, formats, options, config, info) -> dict:
    """``kerazoo.json`` as ``kerazoo export`` writes it (so ``evaluate``/``serve`` read it), plus the options."""
    return {
        "name": name, "version": number, "model": config.model.name,
        "task": "classification", "run": os.path.abspath(run_dir), "checkpoint": checkpoint,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": info.name,
        "input": {"name": "images", "shape": list(info.image_shape), "dtype": "float32", "range": [0, 255],
                  "preprocessing": "inside the model (normalization by the training split's mean/std)"},
        "outputs": ["probabilities", "logits"], "class_names": list(info.class_names), "formats": formats,
        "optimized": options,
    }


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, names in os.walk(path) for f in names
               if root != path or f in ("saved_model.pb", "fingerprint.pb"))


def print_report(report: dict) -> str:
    """The stage table of a report, as printed by ``kerazoo optimize``."""
    stages = report["stages"]
    return (f"{format_table(stages)}\n(accuracy on {report['test_examples']} {report['test_split']} examples; gzip "
            f"and 'x dense' = gzip-compressed TFLite; latency = one image, median)")

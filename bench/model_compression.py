"""Compression of a zoo CNN trained on Fashion-MNIST: every goal of issue 6 in one run.

    python bench/model_compression.py                    # LeNet-5 (ReLU), 10 epochs, fine-tuning 2 epochs per stage
    python bench/model_compression.py --quick            # a smoke run: 1 epoch on 6,000 images, 2,000 test images
    python bench/model_compression.py --run runs/my_run  # compress an existing run instead of training one

Goals (issue 6), each measured against the dense model on the test split:
- pruning: 80 % sparsity with <= 1.0 point accuracy loss and gzip size <= 1/3 of the dense model's;
- int8 TFLite: <= 0.27x the float32 TFLite size, <= 0.5 point loss, lower latency than float32 on this CPU;
- 16-cluster weight sharing: <= 1.0 point loss;
- distillation: a student distilled from the model beats the same student trained alone (same data, epochs, init).
Also measured: deep compression (prune → cluster → int8), QAT int8, low-rank (SVD, 90 % energy) with fine-tuning.
Writes bench/results/compression.json (or --results NAME).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

import keras  # noqa: E402
from kerazoo.optimize.finetune import RunData, accuracy, fine_tune  # noqa: E402
from kerazoo.optimize.pipeline import compress_run, print_report  # noqa: E402


def train_run(args) -> str:
    from kerazoo.training import load_config, train

    train_split, val_split = ("train[:6000]", "train[55000:56000]") if args.quick else (
        "train[:55000]", "train[55000:]")
    overrides = [f"model.name={args.model}", f"epochs={args.epochs}", f"data.train_split={train_split}",
                 f"data.val_split={val_split}", "data.augment=[]", "optimizer.name=adam", "optimizer.lr=0.001",
                 "optimizer.weight_decay=0", "strategy=default", *args.overrides]
    if args.model == "lenet5":
        overrides.insert(1, "model.kwargs.activation=relu")  # ReLU: what int8 kernels run fastest
    out = os.path.join(args.out, "run")
    return train(load_config(overrides=overrides), out, overwrite=True, verbose=2)


def student_model(info):
    """A deliberately small CNN (about 1.5k weights) for the distillation goal."""
    from kerazoo.training.tasks import normalize

    inputs = keras.Input(shape=info.image_shape, name="images")
    x = normalize(inputs, info)
    x = keras.layers.Conv2D(8, 5, strides=2, activation="relu", name="student_conv1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="student_conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="student_pool")(x)
    outputs = keras.layers.Dense(info.num_classes, name="student_predictions")(x)
    return keras.Model(inputs, outputs, name="student")


def distillation_figures(run_dir, data: RunData, test, args) -> dict:
    from kerazoo.optimize.distill import distill
    from kerazoo.training import load_run_info, load_run_model

    teacher = load_run_model(run_dir)
    info = load_run_info(run_dir)
    keras.utils.set_random_seed(args.seed)
    alone = student_model(info)
    distilled = keras.models.clone_model(alone)
    distilled.set_weights(alone.get_weights())  # same initialization
    train_ds = data.train(seed=args.seed, limit=args.limit)
    fine_tune(alone, train_ds, epochs=args.student_epochs, lr=3e-3)
    distill(distilled, teacher, train_ds, epochs=args.student_epochs, temperature=4.0, alpha=0.5, lr=3e-3)
    figures = {"teacher": accuracy(teacher.predict_on_batch, *test),
               "student_alone": accuracy(alone.predict_on_batch, *test),
               "student_distilled": accuracy(distilled.predict_on_batch, *test), "temperature": 4.0, "alpha": 0.5,
               "student_params": alone.count_params(), "epochs": args.student_epochs}
    figures["goal_met"] = figures["student_distilled"] > figures["student_alone"]
    return figures


def lowrank_figures(run_dir, data: RunData, test, args) -> dict:
    from kerazoo.optimize.lowrank import factorize
    from kerazoo.training import load_run_model

    model = load_run_model(run_dir)
    factored, ranks = factorize(model, energy=0.9)
    before = accuracy(factored.predict_on_batch, *test)
    fine_tune(factored, data.train(seed=args.seed, limit=args.limit), epochs=args.finetune_epochs, lr=1e-3)
    return {"energy": 0.9, "ranks": ranks, "params_dense": model.count_params(),
            "params_lowrank": factored.count_params(),
            "accuracy_dense": accuracy(model.predict_on_batch, *test), "accuracy_before_finetune": before,
            "accuracy_after_finetune": accuracy(factored.predict_on_batch, *test)}


def goals(reports: dict) -> dict:
    """Each issue-6 goal: the measured figures and whether they meet it."""

    def stage(report, name):
        return next(row for row in report["stages"] if row["stage"] == name)

    dense = stage(reports["prune"], "dense")
    pruned = stage(reports["prune"], "pruned")
    dense_q = stage(reports["int8"], "dense")
    int8 = stage(reports["int8"], "ptq_int8")
    clustered = stage(reports["cluster"], "clustered")
    dense_c = stage(reports["cluster"], "dense")
    result = {
        "prune_80": {"sparsity": pruned["sparsity"],
                     "accuracy_loss_points": 100 * (dense["accuracy"] - pruned["accuracy"]),
                     "gzip_ratio": pruned["tflite_gzip_bytes"] / dense["tflite_gzip_bytes"]},
        "int8": {"size_ratio": int8["tflite_bytes"] / dense_q["tflite_bytes"],
                 "accuracy_loss_points": 100 * (dense_q["accuracy"] - int8["accuracy"]),
                 "latency_ms_float32": dense_q["latency_ms"], "latency_ms_int8": int8["latency_ms"]},
        "cluster_16": {"accuracy_loss_points": 100 * (dense_c["accuracy"] - clustered["accuracy"]),
                       "max_unique_weights": clustered["max_unique_weights"],
                       "gzip_ratio": clustered["tflite_gzip_bytes"] / dense_c["tflite_gzip_bytes"]},
    }
    p, q, c = result["prune_80"], result["int8"], result["cluster_16"]
    p["goal_met"] = p["sparsity"] >= 0.799 and p["accuracy_loss_points"] <= 1.0 and p["gzip_ratio"] <= 1 / 3
    q["goal_met"] = (q["size_ratio"] <= 0.27 and q["accuracy_loss_points"] <= 0.5
                     and q["latency_ms_int8"] < q["latency_ms_float32"])
    c["goal_met"] = c["accuracy_loss_points"] <= 1.0
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run (about 2 minutes)")
    parser.add_argument("--run", help="compress this run instead of training one")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--epochs", type=int, help="training epochs of the model (default 10; quick 1)")
    parser.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs per stage (default 2; quick 1)")
    parser.add_argument("--student-epochs", type=int, help="distillation epochs (default 5; quick 1)")
    parser.add_argument("--out", default="runs/bench_compression")
    parser.add_argument("--results",
                        help="writes bench/results/RESULTS.json (default: compression, or compression_quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="training config overrides")
    args = parser.parse_args()
    args.epochs = args.epochs or (1 if args.quick else 10)
    args.finetune_epochs = args.finetune_epochs or (1 if args.quick else 2)
    args.student_epochs = args.student_epochs or (1 if args.quick else 5)
    args.limit = 6000 if args.quick else None
    args.results = args.results or ("compression_quick" if args.quick else "compression")
    test_limit = 2000 if args.quick else None
    latency_runs = 20 if args.quick else 200

    start = time.time()
    run_dir = args.run or train_run(args)
    data = RunData.from_run(run_dir)
    test = data.arrays(data.test_split, limit=test_limit)
    repo = os.path.join(args.out, "models")
    shutil.rmtree(repo, ignore_errors=True)
    common = {"finetune_epochs": args.finetune_epochs, "train_limit": args.limit, "test_limit": test_limit,
              "latency_runs": latency_runs, "seed": args.seed}
    plans = {
        "prune": {"prune": 0.8},
        "int8": {"quantize": "int8"},
        "cluster": {"cluster": 16},
        "deep": {"prune": 0.8, "cluster": 16, "quantize": "int8"},
        "qat_int8": {"quantize": "int8", "qat": True},
    }
    if args.quick:
        del plans["qat_int8"]  # the slowest stage; the full run measures it
    reports = {}
    for name, options in plans.items():
        print(f"\n== {name}: {options}", flush=True)
        _, reports[name] = compress_run(run_dir, os.path.join(repo, name), **options, **common)
        print(print_report(reports[name]), flush=True)
    print("\n== distillation", flush=True)
    distillation = distillation_figures(run_dir, data, test, args)
    print(distillation, flush=True)
    print("\n== low-rank", flush=True)
    lowrank = lowrank_figures(run_dir, data, test, args)
    print(lowrank, flush=True)

    measured = goals(reports)
    measured["distillation"] = distillation
    for name, figures in measured.items():
        print(f"goal {name}: {'met' if figures['goal_met'] else 'NOT met'} {figures}")
    seconds = round(time.time() - start, 1)
    path = write_results(args.results, {
        "quick": args.quick, "model": args.model, "run": os.path.abspath(run_dir), "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs, "test_examples": int(len(test[1])), "goals": measured,
        "lowrank": lowrank, "stages": {name: report["stages"] for name, report in reports.items()},
        "seconds": seconds,
    })
    print(f"\n{seconds} s; wrote {path}")


if __name__ == "__main__":
    main()

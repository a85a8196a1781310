"""Training tricks on Fashion-MNIST at an equal budget: plain cosine baseline vs EMA weights, SGDR, a snapshot
ensemble (SGDR's snapshots averaged), an ensemble of independent runs and test-time augmentation; plus the linear
(SVM and softmax) and kNN classifiers on raw pixels, and kNN on the baseline network's features (image retrieval).

    python bench/training_tricks.py                 # full: LeNet-5, 15 epochs per run, full training split
    python bench/training_tricks.py --quick         # a few minutes: 2 epochs on 3,000 images, small kNN/linear sets

Writes bench/results/training_tricks.json (or training_tricks_quick.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import write_results  # noqa: E402
from kerazoo import datasets  # noqa: E402
from kerazoo.classic import KNNClassifier, LinearClassifier, model_features  # noqa: E402
from kerazoo.datasets.augment import tta_predict  # noqa: E402
from kerazoo.runs import RunDir  # noqa: E402
from kerazoo.training import load_config, load_run_model, train  # noqa: E402
from kerazoo.training.averaging import ensemble_predict, snapshot_paths  # noqa: E402


def accuracy(probabilities, labels) -> float:
    return float((np.argmax(probabilities, axis=1) == labels).mean())


def train_variant(name, args, overrides, seed=0):
    base = [f"model.name={args.model}", f"epochs={args.epochs}", f"seed={seed}", "strategy=default"]
    if args.limit:
        base.append(f"data.limit={args.limit}")
    start = time.time()
    run = train(load_config(overrides=[*base, *overrides]), os.path.join(args.out, name), overwrite=True, verbose=0)
    summary = RunDir(run).read_summary()
    print(f"  {name}: test accuracy {summary['accuracy']:.4f} ({time.time() - start:.0f} s)", flush=True)
    return run, {"test_accuracy": summary["accuracy"], "seconds": round(time.time() - start, 1)}


def network_tricks(args, test_images, test_labels) -> dict:
    restarts = max(1, args.epochs // 3)
    results = {}
    baseline, results["baseline_cosine"] = train_variant("baseline", args, ["schedule.name=cosine"])
    _, results["ema"] = train_variant("ema", args, ["schedule.name=cosine", "schedule.averaging=ema",
                                                    f"schedule.ema_decay={args.ema_decay}"])
    sgdr, results["sgdr"] = train_variant("sgdr", args, ["schedule.name=sgdr", f"schedule.restart_epochs={restarts}",
                                                         "schedule.snapshots=true"])
    snapshots = snapshot_paths(sgdr)
    results["snapshot_ensemble"] = {
        "test_accuracy": accuracy(ensemble_predict(snapshots, test_images), test_labels), "members": len(snapshots)}
    print(f"  snapshot ensemble of {len(snapshots)}: {results['snapshot_ensemble']['test_accuracy']:.4f}")
    second, results["baseline_seed1"] = train_variant("baseline_seed1", args, ["schedule.name=cosine"], seed=1)
    results["ensemble_of_2_runs"] = {"test_accuracy": accuracy(ensemble_predict([baseline, second], test_images),
                                                                test_labels)}
    print(f"  ensemble of 2 runs: {results['ensemble_of_2_runs']['test_accuracy']:.4f}")
    results["baseline_tta"] = {"test_accuracy": accuracy(tta_predict(load_run_model(baseline), test_images),
                                                          test_labels)}
    print(f"  baseline + test-time augmentation (10 views): {results['baseline_tta']['test_accuracy']:.4f}")
    return results


def classic_baselines(args) -> dict:
    train_images, train_labels = datasets.load_arrays("fashion_mnist", f"train[:{args.classic_train}]")
    test_images, test_labels = datasets.load_arrays("fashion_mnist", f"test[:{args.classic_test}]")
    results = {}
    for loss in ("multiclass_hinge", "softmax_cross_entropy"):
        start = time.time()
        clf = LinearClassifier(loss, epochs=args.linear_epochs, lr=0.005, reg=1e-4).fit(train_images, train_labels)
        results[f"linear_{loss}"] = {"test_accuracy": clf.score(test_images, test_labels),
                                     "seconds": round(time.time() - start, 1)}
        print(f"  linear ({loss}): {results[f'linear_{loss}']['test_accuracy']:.4f}", flush=True)
    start = time.time()
    knn = KNNClassifier(ks=(1, 3, 5, 7, 10), metrics=("l1", "l2"), folds=5).fit(
        train_images[: args.knn_train], train_labels[: args.knn_train])
    results["knn_pixels"] = {"test_accuracy": knn.score(test_images, test_labels), **knn.best,
                             "train_examples": int(min(args.knn_train, len(train_images))),
                             "seconds": round(time.time() - start, 1)}
    print(f"  kNN on pixels (k={knn.best['k']}, {knn.best['metric']}): "
          f"{results['knn_pixels']['test_accuracy']:.4f}", flush=True)
    # The same search on the baseline network's penultimate features (what `retrieve` ranks by).
    start = time.time()
    network = load_run_model(os.path.join(args.out, "baseline"))
    knn = KNNClassifier(ks=(1, 3, 5, 7, 10), metrics=("l1", "l2"), folds=5).fit(
        model_features(network, train_images[: args.knn_train]), train_labels[: args.knn_train])
    results["knn_features"] = {"test_accuracy": knn.score(model_features(network, test_images), test_labels),
                               **knn.best, "features": f"{args.model} baseline, input of its last layer",
                               "train_examples": int(min(args.knn_train, len(train_images))),
                               "seconds": round(time.time() - start, 1)}
    print(f"  kNN on {args.model} features (k={knn.best['k']}, {knn.best['metric']}): "
          f"{results['knn_features']['test_accuracy']:.4f}", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budget (~2 minutes) to check the bench runs")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--limit", type=int, default=None, help="training examples per run (default: all)")
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--classic-train", type=int, default=60000)
    parser.add_argument("--classic-test", type=int, default=10000)
    parser.add_argument("--knn-train", type=int, default=10000, help="training examples for kNN's search")
    parser.add_argument("--linear-epochs", type=int, default=10)
    parser.add_argument("--out", default="runs/bench_training_tricks")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.limit, args.ema_decay = 2, 3000, 0.99
        args.classic_train, args.classic_test, args.knn_train, args.linear_epochs = 5000, 2000, 2000, 3

    test_images, test_labels = datasets.load_arrays("fashion_mnist", "test")
    print(f"Network tricks: {args.model}, {args.epochs} epochs per run"
          f"{f', {args.limit} training images' if args.limit else ''}")
    figures = {"model": args.model, "epochs": args.epochs, "train_limit": args.limit, "quick": args.quick,
               "networks": network_tricks(args, test_images, test_labels)}
    print("Classic classifiers on raw pixels and on the baseline's features")
    figures["classic"] = classic_baselines(args)
    print("wrote", write_results("training_tricks_quick" if args.quick else "training_tricks", figures))


if __name__ == "__main__":
    main()

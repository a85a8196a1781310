"""Dense-sparse-dense training (issue 42) against plain fine-tuning for the same epochs, LeNet-5 on Fashion-MNIST.

    python bench/dsd.py                 # 3 epochs on 6,000 images, then 1 sparse + 1 re-dense epoch vs 2 plain epochs
    python bench/dsd.py --sparsity 0.5 --train-images 12000 --epochs 5 --finetune-epochs 2

A CPU-sized budget: LeNet-5 (ReLU) trained ``--epochs`` on the first ``--train-images`` training images (Adam 1e-3),
then from that checkpoint (a) DSD: ``--finetune-epochs`` pruned to ``--sparsity`` at lr 1e-3, then as many re-dense
epochs at 1e-4, and (b) plain fine-tuning for 2 x ``--finetune-epochs`` at 1e-3, both on the same images; accuracy on
the first ``--test-images`` test images. Writes bench/results/dsd.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

from kerazoo.optimize.pipeline import compress_run, print_report  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sparsity", type=float, default=0.3, help="DSD sparsity (the paper: 0.3-0.5)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of the dense model")
    parser.add_argument("--finetune-epochs", type=int, default=1, help="epochs of each DSD phase")
    parser.add_argument("--train-images", type=int, default=6000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from kerazoo.training import load_config, train

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerazoo-bench-dsd-") as work:
        overrides = ["model.name=lenet5", "model.kwargs.activation=relu", f"epochs={args.epochs}",
                     f"data.train_split=train[:{args.train_images}]", "data.val_split=train[55000:56000]",
                     "data.augment=[]", "optimizer.name=adam", "optimizer.lr=0.001", "optimizer.weight_decay=0",
                     "strategy=default", f"seed={args.seed}"]
        run_dir = train(load_config(overrides=overrides), os.path.join(work, "run"), overwrite=True, verbose=0)
        _, report = compress_run(run_dir, os.path.join(work, "models", "lenet5_dsd"), dsd=args.sparsity,
                                 finetune_epochs=args.finetune_epochs, lr=1e-3, train_limit=args.train_images,
                                 test_limit=args.test_images, latency_runs=5, seed=args.seed)
    print(print_report(report))
    accuracy = {row["stage"]: row["accuracy"] for row in report["stages"]}
    figures = {"budget": {"train_images": args.train_images, "test_images": args.test_images, "epochs": args.epochs,
                          "finetune_epochs": args.finetune_epochs, "sparsity": args.sparsity},
               "accuracy": accuracy, "seconds": round(time.perf_counter() - start, 1)}
    print(f"wrote {write_results('dsd', figures)}")


if __name__ == "__main__":
    main()

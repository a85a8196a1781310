"""Recurrent attention model against a CNN of similar size on translated Fashion-MNIST (60x60 canvas), same budget.

    python bench/ram.py                                  # RAM (configs/fashion_ram.yaml) vs LeNet-5, 5 epochs
    python bench/ram.py --train 20000 --epochs 5 --dataset fashion_mnist_cluttered60 --results ram_cluttered

Both models train with the RAM recipe's settings (Adam 1e-3, gradient norm clipped at 5, batch 128, cosine over the
epochs, no augmentation) on the first --train canvases of the training split, validate on train[55000:] (best
checkpoint by validation accuracy) and are tested on all 10,000 test canvases. LeNet-5 sees the whole 60x60 canvas
(0.70 M parameters there: its first dense layer reads a 12x12x16 map); the RAM (0.26 M) sees 6 glimpses of 3 scales
at 12x12. Writes bench/results/RESULTS.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

from kerazoo.runs import RunDir  # noqa: E402
from kerazoo.training import load_config, train  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ram,lenet5", help="comma-separated zoo names")
    parser.add_argument("--dataset", default="fashion_mnist_translated60")
    parser.add_argument("--train", type=int, default=20000, help="training canvases (the first of the split)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_ram")
    parser.add_argument("--results", default="ram", help="writes bench/results/RESULTS.json")
    args = parser.parse_args()

    figures = {"dataset": args.dataset, "train_examples": args.train, "epochs": args.epochs, "models": {}}
    for name in args.models.split(","):
        overrides = [f"model.name={name}", f"data.dataset={args.dataset}", f"data.train_split=train[:{args.train}]",
                     "data.val_split=train[55000:]", f"epochs={args.epochs}", f"seed={args.seed}"]
        if name != "ram":
            overrides.append("model.kwargs={}")  # the recipe's glimpse settings are the RAM's
        config = load_config("configs/fashion_ram.yaml", overrides)
        print(f"{name}: {args.epochs} epochs on {args.train} canvases of {args.dataset}", flush=True)
        start = time.time()
        run_dir = train(config, os.path.join(args.out, f"{args.dataset}_{name}"), overwrite=True, verbose=2)
        seconds = time.time() - start
        run = RunDir(run_dir)
        summary = run.read_summary()
        params = int(run.load_model().count_params())
        figures["models"][name] = {"test_accuracy": summary["accuracy"], "test_loss": summary["loss"],
                                   "parameters": params, "wall_seconds": round(seconds, 1),
                                   "best": summary.get("best")}
        print(f"  {name}: test accuracy {summary['accuracy']:.4f}, {params} parameters, {seconds:.0f} s", flush=True)
        print("  ->", write_results(args.results, figures), flush=True)


if __name__ == "__main__":
    main()

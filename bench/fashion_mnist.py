"""Time for zoo models to reach 90 % and 92 % Fashion-MNIST test accuracy with the default recipe, on this machine.

    python bench/fashion_mnist.py --models resnet20 --epochs 15
    python bench/fashion_mnist.py --models resnet20,densenetbc100,mobilenetv2,vgg11_bn,squeezenet1_1 --epochs 10
    python bench/fashion_mnist.py --config configs/fashion_vgg11_bn.yaml --epochs 2 --results fashion_mnist_vgg11_bn

With `--config FILE` the recipe is that file's (the model's own config, which its card lists; `--epochs` and the
overrides still apply: a cosine schedule spans the epochs given, a step schedule's epochs are absolute). Otherwise
the default recipe (kerazoo.training.TrainConfig defaults): SGD momentum 0.9, lr 0.1 at batch 128, cosine schedule,
weight decay 1e-4, random crop + flip, 55,000 training / 5,000 validation images. Test accuracy is measured after
every epoch (on the 10,000 test images; it does not steer training). Writes bench/results/RESULTS.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

import keras  # noqa: E402

from kerazoo.applications.cards import run_result  # noqa: E402
from kerazoo.training import evaluate_model, load_config, train  # noqa: E402


class TestAccuracyClock(keras.callbacks.Callback):
    """Test accuracy after each epoch, and the training wall time (evaluation excluded) when it first passes each goal."""

    def __init__(self, config, goals=(0.90, 0.92)):
        super().__init__()
        self.config, self.goals = config, goals
        self.history, self.reached = [], {}
        self.train_seconds = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.time() - self._start
        acc = evaluate_model(self.model, self.config)["accuracy"]
        self.history.append({"epoch": epoch + 1, "test_accuracy": acc, "train_seconds": round(self.train_seconds, 1)})
        print(f"  epoch {epoch + 1}: test accuracy {acc:.4f} after {self.train_seconds:.0f} s of training", flush=True)
        for goal in self.goals:
            if acc >= goal and str(goal) not in self.reached:
                self.reached[str(goal)] = {"epoch": epoch + 1, "train_seconds": round(self.train_seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated zoo names (default resnet20, or the --config file's model)")
    parser.add_argument("--config", help="a training config (YAML) to start from instead of the defaults")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", default="runs/bench_fashion_mnist")
    parser.add_argument("--results", default="fashion_mnist", help="writes bench/results/RESULTS.json")
    parser.add_argument("overrides", nargs="*", help="config overrides applied to every model")
    args = parser.parse_args()

    results = {}
    names = args.models or load_config(args.config).model.name  # the defaults' model is resnet20
    for name in names.split(","):
        config = load_config(args.config, overrides=[f"model.name={name}", f"epochs={args.epochs}", *args.overrides])
        clock = TestAccuracyClock(config)
        print(f"{name}: {args.epochs} epochs", flush=True)
        run_dir = train(config, os.path.join(args.out, name), overwrite=True, extra_callbacks=[clock], verbose=2)
        results[name] = {
            # The card's figure: the run's summary.json (best checkpoint on the test split), which
            # `kerazoo evaluate RUN` reproduces; the recipe is the config (or the defaults) plus these overrides.
            **run_result(run_dir), "config": args.config, "overrides": [f"model.name={name}", f"epochs={args.epochs}",
                                                                  *args.overrides],
            "epochs": args.epochs,
            "final_test_accuracy": clock.history[-1]["test_accuracy"],
            "best_test_accuracy": max(h["test_accuracy"] for h in clock.history),
            "train_seconds": clock.history[-1]["train_seconds"],
            "reached": clock.reached,
            "history": clock.history,
        }
        print(f"{name}: final {results[name]['final_test_accuracy']:.4f}, reached {clock.reached}", flush=True)
    path = write_results(args.results, {"recipe": args.config or "kerazoo defaults", "overrides": args.overrides,
                                        "models": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

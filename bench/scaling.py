"""Training throughput of the strategies on this machine: default vs mirrored over 2 logical CPUs, and 1 vs 2 local
multi-worker processes (``kerazoo launch``). Same model, data and global batch everywhere; the first epoch
(tracing, compilation, the collective handshake) is warm-up and is not timed.

    python bench/scaling.py --quick        # LeNet-5, about 2 minutes
    python bench/scaling.py                # ResNet-20, longer epochs

On a machine with 2 cores, 2 workers or 2 replicas share the same cores, so no speed-up is expected: the figures
show what the synchronization costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# The repository root instead of bench/: a bench file named like a module that TF or jax imports would shadow it.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETUPS = [  # (name, strategy, processes, logical CPUs per process)
    ("default", "default", 1, 1),
    ("mirrored_2cpu", "mirrored", 1, 2),
    ("multi_worker_1", "multi_worker", 1, 1),
    ("multi_worker_2", "multi_worker", 2, 1),
]


def overrides(args, strategy: str) -> list[str]:
    return [f"model.name={args.model}", f"data.batch_size={args.batch_size}", f"steps_per_epoch={args.steps}",
            f"epochs={args.epochs}", "data.augment=[]", "data.val_split=''", f"strategy={strategy}",
            "jit_compile=false", f"data.limit={args.batch_size * args.steps}", "data.test_split=test[:256]"]


def worker(args) -> None:
    """One training process: time every training step after the first epoch; the chief writes steps/s."""
    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    import keras

    from kerazoo.training import load_config, train
    from kerazoo.training.strategy import is_chief

    class StepTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            if epoch == 1:
                self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            steps = (args.epochs - 1) * args.steps
            if is_chief():
                with open(args.result, "w", encoding="utf-8") as f:
                    json.dump({"steps": steps, "seconds": time.perf_counter() - self.start}, f)

    train(load_config(overrides=overrides(args, args.strategy)), args.out, extra_callbacks=[StepTimer()], verbose=0)


def measure(args, name: str, strategy: str, processes: int, logical_cpus: int, folder: str) -> dict:
    from kerazoo.training.launch import launch

    result = os.path.join(folder, f"{name}.json")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--strategy", strategy, "--out",
               os.path.join(folder, name), "--result", result, "--logical-cpus", str(logical_cpus), "--model",
               args.model, "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--epochs",
               str(args.epochs)]
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    if strategy == "multi_worker":
        code = launch(command, processes, env=env, out=open(os.devnull, "w"))
    else:
        code = subprocess.run(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL).returncode
    if code:
        raise RuntimeError(f"{name} failed with exit status {code}")
    with open(result, encoding="utf-8") as f:
        timing = json.load(f)
    return {"processes": processes, "replicas": processes * logical_cpus, "timed_steps": timing["steps"],
            "steps_per_second": round(timing["steps"] / timing["seconds"], 3),
            "images_per_second": round(timing["steps"] * args.batch_size / timing["seconds"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="LeNet-5, 3 short epochs (about 2 minutes)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch, the same for every setup")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (the first is warm-up)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--logical-cpus", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.model = args.model or ("lenet5" if args.quick else "resnet20")
    args.steps = args.steps or (15 if args.quick else 50)
    args.epochs = args.epochs or (2 if args.quick else 3)
    if args.worker:
        worker(args)
        return

    from bench.common import write_results

    figures = {"model": args.model, "global_batch_size": args.batch_size, "steps_per_epoch": args.steps,
               "timed_epochs": args.epochs - 1, "setups": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, strategy, processes, cpus in SETUPS:
            figures["setups"][name] = row = measure(args, name, strategy, processes, cpus, folder)
            print(f"{name:<16} {row['replicas']} replica(s) in {processes} process(es): "
                  f"{row['steps_per_second']:.2f} steps/s, {row['images_per_second']:.0f} images/s", flush=True)
    base = figures["setups"]["default"]["steps_per_second"]
    for name, row in figures["setups"].items():
        row["relative_to_default"] = round(row["steps_per_second"] / base, 3)
    print(f"results written to {write_results('scaling', figures)}")


if __name__ == "__main__":
    main()

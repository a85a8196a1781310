"""Inference and training images/s of zoo models on this machine; each kerazoo model that keras.applications also
builds is timed side by side with its twin in the same run (interleaved windows, so machine noise hits both).

    python bench/throughput.py                      # the 14 twins at 224x224 (goal: kerazoo / keras >= 0.95)
    python bench/throughput.py --others             # plus every other classifier at its default input, absolute
    python bench/throughput.py --quick              # 3 twins at 96x96, 2 windows: a smoke run
    python bench/throughput.py --side 128 --windows 3 --steps 2 --others --others-max-side 128   # 2 CPU cores: 40 min
    python bench/throughput.py --models resnet50,resnext50_32x4d --side 64 --batch 8   # a model without a twin too
    KERAS_BACKEND=jax python bench/throughput.py    # the same under JAX (a GPU machine; the results record the backend)

Inference: ``model.predict_on_batch`` (compiled function, training=False). Training: ``model.train_on_batch`` with SGD
and sparse cross-entropy. Warm-up calls (tracing) are excluded; each figure is the median over timed windows.
TensorFlow runs with oneDNN's kernels, as under the ``kerazoo`` command (``bench/common.py``).
``--models`` may name classifiers that keras.applications lacks (ResNeXt, ...): they are timed alone at ``--side``,
and ``summary.vs_first`` gives every listed model's kerazoo images/s over the first one's, in the same run.
Writes bench/results/throughput.json (``throughput_<models>.json`` when ``--models`` names a model without a twin).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from kerazoo.applications import create_model, get_entry, list_models  # noqa: E402

TWINS = {
    "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
    "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2",
    "vgg16": "VGG16", "vgg19": "VGG19", "inceptionv3": "InceptionV3",
    "densenet121": "DenseNet121", "densenet169": "DenseNet169", "densenet201": "DenseNet201",
    "mobilenet": "MobileNet", "mobilenetv2": "MobileNetV2",
}


class Timer:
    """Times one model's inference and training step on a fixed batch."""

    def __init__(self, model, batch):
        self.model, self.batch = model, batch
        shape = (batch, *model.input_shape[1:])
        self.x = np.random.default_rng(0).uniform(0, 255, size=shape).astype("float32")
        self.y = np.arange(batch) % model.output_shape[-1]
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
        model.predict_on_batch(self.x)  # warm-up: tracing is not throughput
        model.train_on_batch(self.x, self.y)

    def window(self, kind, steps):
        start = time.perf_counter()
        for _ in range(steps):
            if kind == "inference":
                self.model.predict_on_batch(self.x)
            else:
                self.model.train_on_batch(self.x, self.y)
        return self.batch * steps / (time.perf_counter() - start)


def measure_pair(name, twin, side, batch, windows, steps):
    ours = Timer(create_model(name, input_shape=(side, side, 3), classes=1000), batch)
    theirs = Timer(getattr(keras.applications, twin)(weights=None, input_shape=(side, side, 3), classes=1000), batch)
    row = {"model": name, "twin": f"keras.applications.{twin}", "input": side, "batch": batch}
    for kind in ("inference", "training"):
        a, b = [], []
        for w in range(windows):  # interleaved, the order alternating: ours, theirs, theirs, ours ...
            first, second = (ours, theirs) if w % 2 == 0 else (theirs, ours)
            times = {first: first.window(kind, steps), second: second.window(kind, steps)}
            a.append(times[ours])
            b.append(times[theirs])
        row[kind] = {"kerazoo": round(statistics.median(a), 2), "keras": round(statistics.median(b), 2),
                     "ratio": round(statistics.median(a) / statistics.median(b), 3)}
    return row


def measure_alone(name, batch, windows, steps, max_side=None, side=None):
    shape = get_entry(name).input_shape
    if side:
        shape = (side, side, shape[2])
    elif max_side and shape[0] > max_side:  # the zoo's ImageNet models also build at smaller sides
        shape = (max_side, max_side, shape[2])
    timer = Timer(create_model(name, input_shape=shape), batch)
    row = {"model": name, "input": shape[0], "batch": batch}
    for kind in ("inference", "training"):
        row[kind] = round(statistics.median(timer.window(kind, steps) for _ in range(windows)), 2)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=224, help="input side for the twins")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="batches per timed window")
    parser.add_argument("--models", help="comma-separated twins to time (default: all 14)")
    parser.add_argument("--others", action="store_true", help="also time every other classifier, absolute figures")
    parser.add_argument("--others-max-side", type=int,
                        help="time the others at this side where their default input is larger (CPU time)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.side, args.windows, args.steps = 96, 2, 2
        args.models = args.models or "resnet50,mobilenetv2,vgg16"
    names = args.models.split(",") if args.models else list(TWINS)
    unknown = [name for name in names if name not in TWINS and name not in list_models(task="classification")]
    if unknown:
        raise SystemExit(f"Unknown --models: {unknown}; twins: {', '.join(TWINS)}, or any zoo classifier")
    alone = [name for name in names if name not in TWINS]

    twins = []
    print(f"{'model':14s} {'input':>5s} {'infer img/s (ours/keras)':>26s} {'ratio':>6s} "
          f"{'train img/s (ours/keras)':>26s} {'ratio':>6s}", flush=True)
    for name in [name for name in names if name in TWINS]:
        row = measure_pair(name, TWINS[name], args.side, args.batch, args.windows, args.steps)
        twins.append(row)
        i, t = row["inference"], row["training"]
        print(f"{name:14s} {args.side:5d} {i['kerazoo']:12.1f} / {i['keras']:11.1f} {i['ratio']:6.3f} "
              f"{t['kerazoo']:12.1f} / {t['keras']:11.1f} {t['ratio']:6.3f}", flush=True)
        keras.backend.clear_session()

    others = []
    for name in alone:
        row = measure_alone(name, args.batch, args.windows, args.steps, side=args.side)
        others.append(row)
        print(f"{name:18s} {row['input']:5d} inference {row['inference']:9.1f} img/s  "
              f"training {row['training']:9.1f} img/s (no twin: alone)", flush=True)
        keras.backend.clear_session()
    if args.others:
        for name in list_models(task="classification", exclude=list(TWINS)):
            row = measure_alone(name, args.batch, args.windows, args.steps, args.others_max_side)
            others.append(row)
            print(f"{name:18s} {row['input']:5d} inference {row['inference']:9.1f} img/s  "
                  f"training {row['training']:9.1f} img/s", flush=True)
            keras.backend.clear_session()

    ratios = [r[k]["ratio"] for r in twins for k in ("inference", "training")]
    summary = {"min_ratio": min(ratios, default=None), "median_ratio": statistics.median(ratios) if ratios else None,
               "pairs_below_0.95": [f"{r['model']}:{k}" for r in twins for k in ("inference", "training")
                                    if r[k]["ratio"] < 0.95]}
    if ratios:
        print(f"kerazoo / keras.applications: min {summary['min_ratio']:.3f}, median {summary['median_ratio']:.3f}; "
              f"below 0.95: {summary['pairs_below_0.95'] or 'none'}")
    if alone:  # each listed model against the first, kerazoo's figures from this run
        ours = {r["model"]: {k: r[k]["kerazoo"] if isinstance(r[k], dict) else r[k] for k in ("inference", "training")}
                for r in twins + others}
        first = names[0]
        summary["vs_first"] = {name: {k: round(ours[name][k] / ours[first][k], 3) for k in ("inference", "training")}
                               for name in names[1:]}
        for name, ratio in summary["vs_first"].items():
            print(f"{name} / {first}: inference {ratio['inference']:.3f}, training {ratio['training']:.3f}")
    stem = "throughput_quick" if args.quick else "throughput"
    if alone:
        stem = "throughput_" + "_".join(names)
    path = write_results(stem, {
        "settings": {"side": args.side, "others_max_side": args.others_max_side, "batch": args.batch,
                     "windows": args.windows, "steps": args.steps,
                     "backend": keras.backend.backend()},
        "twins": twins, "others": others, "summary": summary,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

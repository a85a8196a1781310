"""Ternary and binary weights (issue 42): accuracy and packed kernel size against float32, a LeNet-5-shaped CNN on
Fashion-MNIST.

    python bench/ternary.py                     # 6,000 training images, 3 epochs, 2,000 test images
    python bench/ternary.py --train-images 60000 --epochs 10 --test-images 10000

The same network three times from the same seed: float32, ternary (trained ternary quantization, threshold 0.05) and
binary (BinaryConnect with XNOR's mean-magnitude scale) for conv2, fc1 and fc2; conv1 and the classifier stay float32
in every variant, as in the papers. Adam 1e-3, batch 128, no augmentation. Sizes: the quantized layers' kernels
packed at 2 / 1 bits per weight plus float32 scales, against the same kernels in float32; the whole model's weights
(float layers and biases at 4 bytes) beside it. Writes bench/results/ternary.json.
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
import numpy as np  # noqa: E402

from kerazoo import datasets  # noqa: E402
from kerazoo.layers.ternary import QuantizedConv2D, QuantizedDense, packed_size  # noqa: E402


def lenet(mode: str | None):
    """LeNet-5's shape (ReLU, max pooling); ``mode`` None: float32 throughout."""
    def conv(filters, name):
        if mode is None:
            return keras.layers.Conv2D(filters, 5, activation="relu", name=name)
        return QuantizedConv2D(filters, 5, activation="relu", mode=mode, name=name)

    def dense(units, name):
        if mode is None:
            return keras.layers.Dense(units, activation="relu", name=name)
        return QuantizedDense(units, activation="relu", mode=mode, name=name)

    inputs = keras.Input((28, 28, 1), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="normalize")(inputs)
    x = keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = conv(16, "conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense(120, "fc1")(x)
    x = dense(84, "fc2")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"lenet5_{mode or 'float32'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=6000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_x, train_y = datasets.load_arrays("fashion_mnist", f"train[:{args.train_images}]")
    test_x, test_y = datasets.load_arrays("fashion_mnist", f"test[:{args.test_images}]")
    train_x, test_x = train_x.astype("float32"), test_x.astype("float32")
    rows = {}
    for mode in (None, "ternary", "binary"):
        keras.utils.set_random_seed(args.seed)
        model = lenet(mode)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = time.perf_counter()
        model.fit(train_x, train_y, batch_size=128, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(np.argmax(model.predict(test_x, verbose=0), -1) == test_y))
        weights = sum(int(np.prod(w.shape)) for w in model.weights if "scale" not in w.path)
        row = {"accuracy": round(accuracy, 4), "train_seconds": round(seconds, 1), "model_float32_bytes": 4 * weights}
        if mode is not None:
            size = packed_size(model)
            row.update(quantized_kernels_float32_bytes=size["float32_bytes"],
                       quantized_kernels_packed_bytes=size["packed_bytes"], ratio=size["ratio"],
                       model_packed_bytes=4 * weights - size["float32_bytes"] + size["packed_bytes"],
                       distinct_values={name: len(np.unique(np.asarray(model.get_layer(name).quantized_kernel())))
                                        for name in ("conv2", "fc1", "fc2")})
        rows[mode or "float32"] = row
        print(mode or "float32", row, flush=True)
    budget = {"train_images": args.train_images, "test_images": args.test_images, "epochs": args.epochs}
    print(f"wrote {write_results('ternary', {'budget': budget, 'models': rows})}")


if __name__ == "__main__":
    main()

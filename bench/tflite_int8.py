"""Where full-integer (int8) TFLite time goes on this CPU: float32 against int8 files under LiteRT's settings.

    nice python bench/tflite_int8.py      # LeNet-5 (28x28x1) and ResNet-20 (32x32x3), ~3 min on 2 cores

For each model (random weights: speed does not depend on training), four files convert from one SavedModel:
float32; int8 with per-channel weight scales (the converter's default, what ``kerazoo export`` writes); int8 with
per-tensor scales; int8 with int8 instead of uint8 input. Each is timed with ``Interpreter.invoke`` (set_tensor,
invoke, get_tensor; the median of many calls, per image) at batch 1 and 32, with 1 and 2 threads, and with LiteRT's
default op resolver (``AUTO``: the XNNPACK delegate, which also runs quantized ops) or without it
(``BUILTIN_WITHOUT_DEFAULT_DELEGATES``: TFLite's own kernels). Writes bench/results/tflite_int8.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402  (first: it sets the oneDNN variable before TensorFlow loads)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from kerazoo.applications import create_model  # noqa: E402

MODELS = {"lenet5": (28, 28, 1), "resnet20": (32, 32, 3)}
FILES = {  # name → (int8?, per-channel weight scales?, input type)
    "float32": (False, True, None),
    "int8_per_channel": (True, True, tf.uint8),
    "int8_per_tensor": (True, False, tf.uint8),
    "int8_int8_input": (True, True, tf.int8),
}
RESOLVERS = ("AUTO", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


def convert(saved_model: str, shape, int8: bool, per_channel: bool, input_type) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    if int8:
        representative = np.random.default_rng(0).uniform(0, 255, (64, *shape)).astype("float32")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([representative[i : i + 1]] for i in range(len(representative)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = tf.float32
        converter._experimental_disable_per_channel = not per_channel  # the converter's only switch for it
    return converter.convert()


def us_per_image(content: bytes, batch: int, threads: int, resolver: str, calls: int) -> float:
    interpreter = Interpreter(model_content=content, num_threads=threads,
                              experimental_op_resolver_type=getattr(OpResolverType, resolver))
    given = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(given["index"], [batch, *given["shape"][1:]])
    interpreter.allocate_tensors()
    x = np.random.default_rng(1).integers(0, 255, (batch, *given["shape"][1:])).astype(given["dtype"])
    output = interpreter.get_output_details()[0]["index"]
    times = []
    for call in range(calls + 5):  # 5 warm-up calls
        start = time.perf_counter()
        interpreter.set_tensor(given["index"], x)
        interpreter.invoke()
        interpreter.get_tensor(output)
        if call >= 5:
            times.append(time.perf_counter() - start)
    return round(float(np.median(times)) / batch * 1e6, 2)


def main():
    rows = []
    for name, shape in MODELS.items():
        folder = tempfile.mkdtemp()
        create_model(name, input_shape=shape, classes=10).export(folder, verbose=False)
        for file, settings in FILES.items():
            content = convert(folder, shape, *settings)
            for resolver in RESOLVERS:
                for threads in (1, 2):
                    for batch in (1, 32):
                        us = us_per_image(content, batch, threads, resolver, 200 if batch == 1 else 30)
                        row = {"model": name, "file": file, "bytes": len(content), "resolver": resolver,
                               "threads": threads, "batch": batch, "us_per_image": us}
                        rows.append(row)
                        print(f"{name:9s} {file:17s} {resolver:34s} threads {threads} batch {batch:2d}: "
                              f"{us:9.1f} us/image", flush=True)
        keras.backend.clear_session()
    print(f"wrote {write_results('tflite_int8', {'rows': rows})}")


if __name__ == "__main__":
    main()

"""Training-step time of U-Net on several backbones (issue 10): which backbones fit this machine's CPU budget.

Each variant, one after the other in one process: batch 32 of 96x96 scenes (random pixels and masks: the step's
cost does not depend on them), Adam, 3 warm-up steps, then the mean of 8 ``train_on_batch`` steps.

    python bench/unet_step.py [--variants NAME,...]    # ~2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import write_results  # noqa: E402

VARIANTS = {
    "mobilenetv2": dict(backbone="mobilenetv2"),
    "resnet20": dict(backbone="resnet20"),
    "seresnet20": dict(backbone="seresnet20"),
    "resnet32": dict(backbone="resnet32"),
    "resnet20_decoder64": dict(backbone="resnet20", decoder_filters=64),
}


def step_ms(kwargs: dict, batch: int = 32, size: int = 96) -> tuple[float, int]:
    import keras

    from kerazoo.applications import create_model

    model = create_model("unet", classes=11, input_shape=(size, size, 1), **kwargs)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 1)).astype("float32")
    y = rng.integers(0, 11, (batch, size, size)).astype("int32")
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(8):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / 8 * 1000, model.count_params()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--results", default="unet_step")
    args = parser.parse_args()
    figures = {}
    for name in args.variants.split(","):
        ms, params = step_ms(VARIANTS[name])
        figures[name] = {**VARIANTS[name], "ms_per_step": round(ms, 1), "parameters": params}
        print(f"{name:20s} {params:>10,d} parameters  {ms:7.0f} ms a step", flush=True)
    print("wrote", write_results(args.results, {"batch": 32, "size": 96, "variants": figures}))


if __name__ == "__main__":
    main()

"""Training-step time of the two-stage detectors, and what their RoI-Align and mask-head choices cost.

    python bench/two_stage_step.py            # ~3 minutes here (the slowest variant takes ~8 s a step)
    python bench/two_stage_step.py --quick    # batch 4, 2 timed steps

Times ``TwoStageTrainer.train_on_batch`` (MobileNet v2 backbone, 96x96 scenes of 3 boxed objects, batch 32, Adam),
after two warm-up steps, for each variant side by side in one process:
- ``faster_rcnn``: with ``roi_align`` as two interpolation matrices (kerazoo's) and with the four-neighbour gather it
  replaced (kept here as ``gather_roi_align``: the same values, a scatter for its gradient);
- ``mask_rcnn``: the same two RoI-Aligns with the mask head trained on every region (what kerazoo did before), then
  kerazoo's: positive regions only (``MASK_REGIONS``), with 28x28 and with 14x14 masks.
Writes bench/results/two_stage_step.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from kerazoo.applications import create_model  # noqa: E402
from kerazoo.vision.detection import two_stage  # noqa: E402
from kerazoo.vision.detection.boxes import anchors_of  # noqa: E402

# the module (the package's name ``roi_align`` is the function)
roi_align_module = importlib.import_module("kerazoo.vision.detection.roi_align")


def gather_roi_align(features, rois, *, output_size=7, sampling_ratio=2, stride=1.0):
    """RoI-Align by gathering each sample's four neighbours: kerazoo's implementation until 2026-11-25."""
    height, width, channels = features.shape[1], features.shape[2], features.shape[3]
    rois = ops.stop_gradient(ops.cast(rois, "float32")) / stride - 0.5
    steps = (ops.arange(output_size * sampling_ratio, dtype="float32") + 0.5) / sampling_ratio

    def positions(start, end, size):
        return ops.clip(start[..., None] + steps * ((end - start) / output_size)[..., None], 0.0, size - 1.0)

    ys, xs = positions(rois[..., 1], rois[..., 3], height), positions(rois[..., 0], rois[..., 2], width)
    y0, x0 = ops.floor(ys), ops.floor(xs)
    wy, wx = (ys - y0)[..., :, None, None], (xs - x0)[..., None, :, None]
    y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
    y1, x1 = ops.minimum(y0 + 1, height - 1), ops.minimum(x0 + 1, width - 1)
    flat = ops.reshape(features, (-1, height * width, channels))
    side, regions = ys.shape[-1], ops.shape(rois)[1]

    def gather(rows, cols):
        index = ops.reshape(rows[..., :, None] * width + cols[..., None, :], (ops.shape(rows)[0], -1, 1))
        return ops.reshape(ops.take_along_axis(flat, index, axis=1), (-1, regions, side, side, channels))

    samples = (gather(y0, x0) * (1 - wy) * (1 - wx) + gather(y0, x1) * (1 - wy) * wx
               + gather(y1, x0) * wy * (1 - wx) + gather(y1, x1) * wy * wx)
    samples = ops.reshape(samples, (-1, regions, output_size, sampling_ratio, output_size, sampling_ratio, channels))
    return ops.mean(samples, axis=(3, 5))


@contextlib.contextmanager
def variant(gather: bool, mask_regions: int | None):
    """Swap in the gather RoI-Align and/or another number of mask-head regions while building and training."""
    saved = roi_align_module.roi_align, two_stage.roi_align, two_stage.MASK_REGIONS
    if gather:
        roi_align_module.roi_align = two_stage.roi_align = gather_roi_align
    if mask_regions:
        two_stage.MASK_REGIONS = mask_regions
    try:
        yield
    finally:
        roi_align_module.roi_align, two_stage.roi_align, two_stage.MASK_REGIONS = saved


def scenes(batch: int, rng) -> tuple:
    """Noise images with 3 square objects each: packed boxes [B, 6, 5] and their instance masks [B, 6, 96, 96]."""
    images = rng.random((batch, 96, 96, 1)).astype("float32") * 255
    objects = np.full((batch, 6, 5), -1, np.float32)
    masks = np.zeros((batch, 6, 96, 96), np.float32)
    for b in range(batch):
        for m in range(3):
            x, y = rng.integers(0, 68, 2)
            side = rng.integers(17, 28)
            objects[b, m] = [x, y, x + side, y + side, rng.integers(0, 10)]
            masks[b, m, y : y + side, x : x + side] = 1
    return images, objects, masks


def step_ms(name: str, batch: int, steps: int, mask_size=None) -> float:
    kwargs = {"mask_size": mask_size} if mask_size else {}
    detector = create_model(name, backbone="mobilenetv2", input_shape=(96, 96, 1), classes=10, **kwargs)
    trainer = two_stage.TwoStageTrainer(detector, anchors_of(detector))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    images, objects, masks = scenes(batch, np.random.default_rng(0))
    y = {"objects": objects, "masks": masks} if name == "mask_rcnn" else objects
    for _ in range(2):
        trainer.train_on_batch(images, y)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_on_batch(images, y)
    return (time.perf_counter() - start) / steps * 1000


VARIANTS = [  # (label, model, gather RoI-Align, mask-head regions (None: kerazoo's), mask_size)
    ("faster_rcnn, gather RoI-Align", "faster_rcnn", True, None, None),
    ("faster_rcnn", "faster_rcnn", False, None, None),
    ("mask_rcnn, gather RoI-Align, mask head on all regions", "mask_rcnn", True, 32, None),
    ("mask_rcnn, mask head on all regions", "mask_rcnn", False, 32, None),
    ("mask_rcnn", "mask_rcnn", False, None, None),
    ("mask_rcnn, mask_size 14", "mask_rcnn", False, None, 14),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 4, 2 timed steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.steps = 4, 2
    rows = []
    for label, name, gather, regions, mask_size in VARIANTS:
        with variant(gather, regions):
            ms = step_ms(name, args.batch, args.steps, mask_size)
        rows.append({"variant": label, "ms_per_step": round(ms, 1)})
        print(f"  {label:55s} {ms:8.0f} ms/step", flush=True)
    by_label = {row["variant"]: row["ms_per_step"] for row in rows}
    speedups = {"faster_rcnn": by_label[VARIANTS[0][0]] / by_label["faster_rcnn"],
                "mask_rcnn": by_label[VARIANTS[2][0]] / by_label["mask_rcnn"]}
    print("  speed-up over the gather RoI-Align (and all-region mask head): "
          + ", ".join(f"{k} {v:.1f}x" for k, v in speedups.items()))
    path = write_results("two_stage_step" + ("_quick" if args.quick else ""),
                         {"quick": args.quick, "batch": args.batch, "timed_steps": args.steps, "backbone": "mobilenetv2",
                          "input_shape": [96, 96, 1], "steps": rows,
                          "speedup": {k: round(v, 2) for k, v in speedups.items()}})
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

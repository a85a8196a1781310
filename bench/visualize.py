"""Time per method per image of kerazoo.visualize (and Gatys style transfer) on this machine, for ResNet-20 and VGG-16.

    python bench/visualize.py            # ResNet-20 at 32x32x3, VGG-16 at 224x224x3, the methods' default steps
    python bench/visualize.py --quick    # VGG-16 at 32x32x3, 5 steps, 16 images (a smoke run, not the figures)

Models have random weights (timings do not depend on training). Each single-image method runs twice on the same
image: ``first_s`` includes TensorFlow's one-time warm-up, ``again_s`` is the cost a user sees on later calls. The
optimizing methods (class_model, deepdream, inversion, gatys) compile their gradient function on every call (one
``tf.function`` trace per call, per octave for deepdream), so with few steps both figures are mostly tracing. Dataset methods (max_patches, tsne, neighbors) report seconds per image over ``--images`` images.
Writes bench/results/visualize.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import write_results  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_model(name: str, shape: tuple, *, steps: int, images: int, out: str) -> dict:
    import keras

    from kerazoo import visualize as viz
    from kerazoo.applications import create_model

    keras.utils.set_random_seed(0)
    model = create_model(name, input_shape=shape, classes=10, classifier_activation=None)
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, shape).astype("float32")
    batch = rng.uniform(0, 255, (images, *shape)).astype("float32")
    labels = rng.integers(0, 10, images)
    layer = viz.find_gradcam_layer(model)
    single = {
        "filters": lambda p: viz.filters(model, out=p),
        "activations": lambda p: viz.activations(model, image, layer=layer, out=p),
        "occlusion": lambda p: viz.occlusion_map(model, image, class_index=0, patch=max(4, shape[0] // 8),
                                                 stride=max(2, shape[0] // 16), out=p),
        "saliency": lambda p: viz.saliency(model, image, out=p),
        "guided_backprop": lambda p: viz.guided_backprop(model, image, out=p),
        "gradcam": lambda p: viz.gradcam(model, image, out=p),
        "class_model": lambda p: viz.class_model(model, class_index=0, steps=steps, out=p),
        "deepdream": lambda p: viz.deepdream(model, image, layer=layer, octaves=2, steps=steps // 2, out=p),
        "inversion": lambda p: viz.inversion(model, image, layer=layer, steps=steps, out=p),
    }
    per_dataset = {
        "max_patches": lambda p: viz.max_patches(model, batch, layer=layer, out=p),
        "tsne": lambda p: viz.tsne(model, batch, labels, out=p),
        "neighbors": lambda p: viz.neighbors(model, batch, out=p),
    }
    results = {"input_shape": list(shape), "gradcam_layer": layer, "steps": steps, "images": images, "methods": {}}
    for method, run in single.items():
        path = os.path.join(out, f"{name}_{method}.png")
        first, again = timed(lambda: run(path)), timed(lambda: run(path))
        results["methods"][method] = {"first_s": round(first, 3), "again_s": round(again, 3)}
        print(f"  {name:9s} {method:16s} first {first:7.2f} s   again {again:7.2f} s", flush=True)
    for method, run in per_dataset.items():
        seconds = timed(lambda: run(os.path.join(out, f"{name}_{method}.png")))
        results["methods"][method] = {"total_s": round(seconds, 3), "per_image_s": round(seconds / images, 4)}
        print(f"  {name:9s} {method:16s} {seconds / images * 1000:7.1f} ms per image ({images} images)", flush=True)
    return results


def bench_style(shape: tuple, *, steps: int, out: str) -> dict:
    from skimage import data

    from kerazoo.visualize import style

    network = style.loss_network("vgg16", input_shape=(None, None, 3))
    figures = {"network": "vgg16", "size": shape[0], "steps": steps}
    for optimizer in ("lbfgs", "adam"):  # L-BFGS stops early only when its line search fails
        result = []
        seconds = timed(lambda: result.append(style.gatys(
            data.astronaut(), data.coffee(), network=network, size=shape[0], steps=steps, optimizer=optimizer,
            out=os.path.join(out, f"gatys_{optimizer}.png"))))
        run = result[0]
        figures[optimizer] = {"seconds": round(seconds, 3), "steps_run": run.steps_run,
                              "seconds_per_step": round(seconds / max(1, run.steps_run), 4),
                              "style_loss_before": run.style_loss_before, "style_loss_after": run.style_loss_after}
        print(f"  vgg16     gatys ({optimizer:5s})   {seconds:7.2f} s for {run.steps_run} steps at {shape[0]} px, "
              f"style loss {run.style_loss_before:.3g} -> {run.style_loss_after:.3g}", flush=True)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="VGG-16 at 32x32, 5 steps, 16 images")
    parser.add_argument("--out", help="folder for the PNGs (default: a temporary one)")
    parser.add_argument("--style-only", action="store_true",
                        help="only Gatys style transfer (writes bench/results/visualize_style.json)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench_visualize_")
    os.makedirs(out, exist_ok=True)
    steps, images = (5, 16) if args.quick else (100, 500)
    if args.style_only:
        figures = {"quick": args.quick, "style": bench_style((32, 32, 3) if args.quick else (256, 256, 3),
                                                             steps=steps, out=out)}
        print(f"wrote {write_results('visualize_style', figures)} (figures in {out})")
        return
    vgg_shape = (32, 32, 3) if args.quick else (224, 224, 3)
    figures = {"quick": args.quick, "models": {
        "resnet20": bench_model("resnet20", (32, 32, 3), steps=steps, images=images, out=out),
        "vgg16": bench_model("vgg16", vgg_shape, steps=steps, images=images, out=out),
    }}
    figures["style"] = bench_style((32, 32, 3) if args.quick else (256, 256, 3), steps=steps, out=out)
    print(f"wrote {write_results('visualize', figures)} (figures in {out})")


if __name__ == "__main__":
    main()

"""Dense tasks on the held-out Fashion-MNIST scenes: localization, semantic segmentation and detection.

    python bench/dense.py --quick                    # ~2 minutes: every head, 1 epoch on a few scenes
    python bench/dense.py                            # the full run (see docs/vision.md for its cost)
    python bench/dense.py --sections segmentation    # one section

Every model trains with ``kerazoo.training.train`` on scenes made from Fashion-MNIST's training items (validation
scenes from held-out training items) and is scored on 1,000 scenes made only from the test items:
- localization (single-object scenes): classification accuracy, mean box IoU, share with class right and IoU >= 0.5;
- segmentation: mean IoU over the 11 classes (background included) and pixel accuracy for FCN-8s, U-Net, SegNet;
- transfer: U-Net whose backbone starts from a Fashion-MNIST classification run (frozen for the first epochs, then
  fine-tuned at a tenth of the learning rate) against the same U-Net from scratch;
- detection: COCO mAP@[.5:.95], mAP@.5, mAP@.75 (pycocotools) of RetinaNet, SSD, Faster R-CNN and Mask R-CNN (plus
  its mask AP); goal: single-shot mAP@.5 >= 0.90.
Writes bench/results/dense.json. A section is a function ``name(args) -> dict`` in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402
from kerazoo.training import load_config, train  # noqa: E402

RECIPE = ["optimizer.name=adam", "optimizer.lr=0.002", "optimizer.weight_decay=0", "schedule.name=cosine",
          "data.augment=[]", "data.batch_size=32", "data.train_split=train[:55000]", "data.val_split=train[55000:]",
          "jit_compile=false"]


def fit(args, name: str, backbone: str, *, epochs: int, extra=(), tag: str = "") -> dict:
    """Trains one head into ``args.out/NAME`` and returns its test figures with epochs and wall time."""
    overrides = [f"model.name={name}", f"model.kwargs.backbone={backbone}", "data.dataset=fashion_mnist_scenes",
                 f"epochs={epochs}", f"data.limit={args.train_scenes}", *RECIPE, *extra]
    config = load_config(overrides=overrides)
    run = os.path.join(args.out, f"{name}_{backbone}{tag}")
    start = time.time()
    train(config, run, overwrite=True, verbose=0)
    seconds = time.time() - start
    from kerazoo.training.run import evaluate_model, load_run_model

    figures = evaluate_model(load_run_model(run), config, limit=args.test_scenes)
    figures.pop("class_iou", None)
    result = {"model": name, "backbone": backbone, "epochs": epochs, "train_and_eval_seconds": round(seconds, 1),
              **figures}
    print(f"  {name:10s} on {backbone:10s}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in figures.items() if isinstance(v, float)) + f"  ({seconds:.0f} s)", flush=True)
    return result


def localization(args) -> dict:
    return {"localizer": fit(args, "localizer", args.backbone, epochs=args.epochs)}


def segmentation(args) -> dict:
    return {name: fit(args, name, args.backbone, epochs=args.epochs) for name in ("fcn8s", "unet", "segnet")}


def transfer(args) -> dict:
    """U-Net from a classification run's backbone vs from scratch, same epochs."""
    classifier = os.path.join(args.out, f"classifier_{args.backbone}")
    config = load_config(overrides=[f"model.name={args.backbone}", f"epochs={args.classifier_epochs}",
                                    "jit_compile=false", f"data.limit={args.classifier_images}"])
    train(config, classifier, overwrite=True, verbose=0)
    return {
        "pretrained": fit(args, "unet", args.backbone, epochs=args.epochs,
                          extra=[f"model.backbone_from={classifier}", f"model.freeze_epochs={args.freeze_epochs}"],
                          tag="_pretrained"),
        "scratch": fit(args, "unet", args.backbone, epochs=args.epochs),
        "classifier_epochs": args.classifier_epochs,
    }


DETECTORS = ("retinanet", "ssd", "faster_rcnn", "mask_rcnn")
DETECTION_RECIPE = ["optimizer.clipnorm=10.0", "schedule.warmup_epochs=0.5"]


def detection(args) -> dict:
    """Single-shot and two-stage detectors: COCO mAP@[.5:.95], mAP@.5 (pycocotools; mask AP for Mask R-CNN).
    Goal: single-shot mAP@.5 >= 0.90."""
    results = {name: fit(args, name, args.backbone, epochs=args.epochs, extra=DETECTION_RECIPE) for name in DETECTORS}
    results["single_shot_goal_mAP50_0.90_met"] = max(results[m]["mAP50"] for m in ("retinanet", "ssd")) >= 0.90
    return results


SECTIONS = {"localization": localization, "segmentation": segmentation, "transfer": transfer, "detection": detection}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 64 scenes, 64 test scenes, no transfer")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--backbone", default="resnet20")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-scenes", type=int, default=6000)
    parser.add_argument("--test-scenes", type=int, default=1000)
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--classifier-images", type=int, default=55000)
    parser.add_argument("--freeze-epochs", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_dense")
    args = parser.parse_args()
    sections = args.sections.split(",")
    if args.quick:
        args.epochs, args.train_scenes, args.test_scenes = 1, 64, 64
        sections = [s for s in sections if s != "transfer"]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    results = {"quick": args.quick, "train_scenes": args.train_scenes, "test_scenes": args.test_scenes}
    for section in sections:
        print(f"{section}:", flush=True)
        results[section] = SECTIONS[section](args)
    print(f"results written to {write_results('dense' + ('_quick' if args.quick else ''), results)}")


if __name__ == "__main__":
    main()

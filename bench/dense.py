"""Dense tasks on the held-out Fashion-MNIST scenes: localization, semantic segmentation and detection.

    python bench/dense.py --quick                    # ~13 minutes: every head, 1 epoch on a few scenes
    python bench/dense.py                            # the full run (see docs/vision.md for its cost)
    python bench/dense.py --sections segmentation    # one section
    # what BENCHMARKS.md quotes (2026-11-25): U-Net and SSD on MobileNet v2, 10 epochs on 6,000 scenes, 43 min here;
    # a second run with --models fcn8s,segnet,localizer --sections segmentation,localization --results dense_decoders
    python bench/dense.py --backbone mobilenetv2 --set model.kwargs.backbone_kwargs.bn_momentum=0.99 \
        --set optimizer.base_batch_size=32 --sections segmentation,detection --models unet,ssd --epochs 10 \
        --results dense_goals
    # and, with the same flags: --sections detection --models retinanet,faster_rcnn,mask_rcnn --results
    # dense_detectors (Mask R-CNN stopped: > 10 min per epoch); --sections transfer --reuse dense_goals --results
    # dense_transfer (36 min); new scenes in every epoch, the compute of 6,000-scene epochs (90 min here):
    # --set steps_per_epoch=188 --train-scenes 120320 --sections detection,segmentation --models ssd,unet
    # --detection-epochs 20 --epochs 16 --results dense_new_scenes; or, in constant memory for any number of epochs,
    # --stream --set steps_per_epoch=188 instead of --set steps_per_epoch=188 --train-scenes N; the single-shot goal
    # (SSD mAP@.5 0.912, 77 min): --stream --set steps_per_epoch=188 --sections detection --models ssd
    # --detection-epochs 160 --results dense_ssd_stream160; U-Net (mIoU 0.788, 82 min): --stream --set
    # steps_per_epoch=188 --sections segmentation --models unet --epochs 100 --results dense_unet_stream100; the U-Net
    # goal (mIoU 0.852, 5 h 10 min): a ResNet-20 classifier, then four cycles with --set model.init_from=RUN, each on
    # the stream's next scenes (BENCHMARKS.md, "A fourth cycle on new scenes")
    # the COCO-folder path against the scenes loader, same scenes (320x240 COCO export, read back by coco:DIR):
    python bench/dense.py --sections detection,coco_export --models ssd --results dense_coco_export
    # what BENCHMARKS.md quotes for issue 37 (2026-12-07): 1,500 training scenes, 6 epochs, 300 test scenes, then the
    # loaders compared element by element (no training):
    python bench/dense.py --sections detection,coco_export --models ssd --train-scenes 1500 --test-scenes 300 \
        --detection-epochs 6 --results dense_coco_export
    python bench/dense.py --sections loader_parity --results dense_loader_parity

Every model trains with ``kerazoo.training.train`` on scenes made from Fashion-MNIST's training items (validation
scenes from held-out training items) and is scored on 1,000 scenes made only from the test items:
- localization (single-object scenes): classification accuracy, mean box IoU, share with class right and IoU >= 0.5;
- segmentation: mean IoU over the 11 classes (background included) and pixel accuracy for FCN-8s, U-Net, SegNet;
- transfer: U-Net whose backbone starts from a Fashion-MNIST classification run (frozen for the first epochs, then
  fine-tuned at a tenth of the learning rate) against the same U-Net from scratch;
- detection: COCO mAP@[.5:.95], mAP@.5, mAP@.75 (pycocotools) of RetinaNet, SSD, Faster R-CNN and Mask R-CNN (plus
  its mask AP); goal: single-shot mAP@.5 >= 0.90;
- coco_export: the detectors again, on the same scenes written as a COCO folder of 320x240 images and read back by
  ``--dataset coco:DIR`` (``--sections detection,coco_export --models ssd``: both, and the mAP@.5 difference);
- loader_parity: no training: the two loaders' batches of the same test scenes compared element by element.
Writes bench/results/dense.json. A section is a function ``name(args, done) -> dict`` in ``SECTIONS`` (``done``: the
results of the sections before it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402
from kerazoo.runs import RunDir  # noqa: E402
from kerazoo.training import evaluate_model, load_config, load_run_model, train  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = ["optimizer.name=adam", "optimizer.lr=0.002", "optimizer.weight_decay=0", "schedule.name=cosine",
          "data.augment=[]", "data.batch_size=32", "data.train_split=train[:55000]", "data.val_split=train[55000:]",
          "jit_compile=false"]


def fit(args, name: str, backbone: str, *, epochs: int, extra=(), tag: str = "") -> dict:
    """Trains one head into ``args.out/NAME`` and returns its test figures with epochs and wall time."""
    scenes = "data.stream=true" if args.stream else f"data.limit={args.train_scenes}"
    overrides = [f"model.name={name}", f"model.kwargs.backbone={backbone}", "data.dataset=fashion_mnist_scenes",
                 f"epochs={epochs}", scenes, *RECIPE, *args.set, *extra]
    config = load_config(overrides=overrides)
    run = os.path.join(args.out, f"{name}_{backbone}{tag}")
    start = time.time()
    train(config, run, overwrite=True, verbose=0)
    seconds = time.time() - start
    figures = run_figures(run, config, args.test_scenes)
    result = {"model": name, "backbone": backbone, "parameters": load_run_model(run).count_params(), "epochs": epochs,
              "train_and_eval_seconds": round(seconds, 1), **figures}
    resolved = RunDir(run).read_config()["resolved"]
    if "stream_start" in resolved:  # the first training scene of the stream (past those a source run drew)
        result["stream_start"] = resolved["stream_start"]
    print(f"  {name:10s} on {backbone:10s}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in figures.items() if isinstance(v, float)) + f"  ({seconds:.0f} s)", flush=True)
    args.finished(os.path.basename(run), result)
    return result


def run_figures(run: str, config, scenes: int) -> dict:
    """The run's test figures: those train() wrote to summary.json when it scored the same number of scenes."""
    summary = RunDir(run).read_summary()
    if summary.get("examples") == scenes:
        return {k: v for k, v in summary.items() if k not in ("epochs", "train_seconds_this_attempt", "best", "split")}
    return evaluate_model(load_run_model(run), config, limit=scenes)


def reused(name: str, settings: dict) -> dict:
    """The sections of ``bench/results/NAME.json``, after checking that they ran with these ``settings``."""
    with open(os.path.join(REPO, "bench", "results", f"{name}.json"), encoding="utf-8") as f:
        earlier = json.load(f)
    differ = [k for k in settings if earlier.get(k) != settings[k]]
    if differ:
        raise SystemExit(f"--reuse {name}: its {', '.join(differ)} differ from this run's; rerun those sections")
    return {k: v for k, v in earlier.items() if k in SECTIONS}


def chosen(args, names) -> list:
    """The heads of a section that ``--models`` asks for, in the section's order."""
    return [name for name in names if name in args.models]


def localization(args, done: dict) -> dict:
    return {name: fit(args, name, args.backbone, epochs=args.epochs) for name in chosen(args, ["localizer"])}


SEGMENTERS = ("fcn8s", "unet", "segnet")


def segmentation(args, done: dict) -> dict:
    return {name: fit(args, name, args.backbone, epochs=args.epochs) for name in chosen(args, SEGMENTERS)}


def transfer(args, done: dict) -> dict:
    """U-Net from a classification run's backbone vs from scratch, same epochs (the segmentation section's U-Net when
    this run trained it or ``--reuse`` names a run that did)."""
    classifier = os.path.join(args.out, f"classifier_{args.backbone}")
    recipe = os.path.join(REPO, "configs", f"fashion_{args.backbone}.yaml")  # the backbone's own classifier recipe
    config = load_config(recipe if os.path.exists(recipe) else None,
                         overrides=[f"model.name={args.backbone}", f"epochs={args.classifier_epochs}",
                                    "jit_compile=false", f"data.limit={args.classifier_images}"])
    train(config, classifier, overwrite=True, verbose=0)
    scratch = done.get("segmentation", {}).get("unet")
    return {
        "pretrained": fit(args, "unet", args.backbone, epochs=args.epochs,
                          extra=[f"model.backbone_from={classifier}", f"model.freeze_epochs={args.freeze_epochs}"],
                          tag="_pretrained"),
        "scratch": scratch if scratch and scratch["epochs"] == args.epochs else fit(args, "unet", args.backbone,
                                                                                      epochs=args.epochs),
        "classifier_epochs": args.classifier_epochs,
        "classifier_images": args.classifier_images,
        "freeze_epochs": args.freeze_epochs,
    }


DETECTORS = ("retinanet", "ssd", "faster_rcnn", "mask_rcnn")
DETECTION_RECIPE = ["optimizer.clipnorm=10.0", "schedule.warmup_epochs=0.5"]


def detection(args, done: dict) -> dict:
    """Single-shot and two-stage detectors: COCO mAP@[.5:.95], mAP@.5 (pycocotools; mask AP for Mask R-CNN).
    Goal: single-shot mAP@.5 >= 0.90."""
    results = {name: fit(args, name, args.backbone, epochs=args.detection_epochs or args.epochs, extra=DETECTION_RECIPE)
               for name in chosen(args, DETECTORS)}
    single_shot = [results[m]["mAP50"] for m in ("retinanet", "ssd") if m in results]
    if single_shot:
        results["single_shot_goal_mAP50_0.90_met"] = max(single_shot) >= 0.90
    return results


EXPORT_SCALE, EXPORT_SIZE = 2.5, (240, 320)
"""coco_export: each 96x96 scene enlarged 2.5 times and centred in a 320x240 image (40 px of black at each side)."""


def _exported(scenes, n: int) -> dict:
    """Scene ``n`` as the 320x240 image of the COCO export, its boxes moved with it (the dense schema's dict)."""
    import numpy as np
    from PIL import Image

    side = int(round(scenes.images.shape[1] * EXPORT_SCALE))
    left = (EXPORT_SIZE[1] - side) // 2
    image = np.zeros(EXPORT_SIZE, np.uint8)
    image[:, left:left + side] = np.asarray(Image.fromarray(scenes.images[n, ..., 0]).resize((side, side),
                                                                                            Image.BILINEAR))
    count = int(scenes.num_objects[n])
    boxes = scenes.boxes[n, :count] * EXPORT_SCALE + np.array([left, 0, left, 0], np.float32)
    return {"image": image, "boxes": boxes, "labels": scenes.classes[n, :count]}


def coco_export(args, done: dict) -> dict:
    """The detectors on a COCO-format export of the scenes at 320x240, read back through ``coco:DIR`` and letterboxed
    to 96x128 (each scene back at its 96x96), against the same detectors on the scenes loader (section detection):
    the same mAP within noise shows the folder path end to end. Test scenes as in the other sections."""
    from kerazoo.datasets import FASHION_CLASSES
    from kerazoo.datasets.coco import write_coco
    from kerazoo.datasets.scenes import make_scenes

    root = os.path.join(args.out, "scenes_coco")
    # the scenes the loader makes for the RECIPE's splits (seed 0; validation: a fifth of the training scenes, as
    # DenseTask._val_limit), written once
    splits = (("train", "train[:55000]", args.train_scenes), ("val", "train[55000:]", max(args.train_scenes // 5, 32)),
              ("test", "test", args.test_scenes))
    for split, items, count in splits:
        if not os.path.exists(os.path.join(root, "annotations", f"instances_{split}.json")):
            scenes = make_scenes(items, count)
            write_coco(root, split, (_exported(scenes, n) for n in range(len(scenes))), FASHION_CLASSES)
    # the folder's own splits (the RECIPE's slices of the 60,000 Fashion-MNIST items mean nothing to it)
    extra = [*DETECTION_RECIPE, f"data.dataset=coco:{root}", "model.input_size=[96, 128]", "data.resize=letterbox",
             "data.train_split=train", "data.val_split=val", "data.test_split=test"]
    results = {name: fit(args, name, args.backbone, epochs=args.detection_epochs or args.epochs, extra=extra,
                         tag="_coco") for name in chosen(args, DETECTORS)}
    for name, result in results.items():
        if name in done.get("detection", {}):
            result["mAP50_minus_scenes_loader"] = round(result["mAP50"] - done["detection"][name]["mAP50"], 4)
    return results


def loader_parity(args, done: dict) -> dict:
    """The two loaders element by element on the same test scenes (no training): the scenes loader's 96x96 batch
    against the COCO export's 320x240 images letterboxed to 96x128 (the scene at columns 16..111): pixels, boxes,
    classes, and the mean/std each model normalizes with. How the coco_export gap was traced (BENCHMARKS.md)."""
    import numpy as np

    from kerazoo.datasets import FASHION_CLASSES
    from kerazoo.datasets.coco import write_coco
    from kerazoo.datasets.scenes import make_scenes
    from kerazoo.vision.data import dense_info, load_dense

    count, root = min(args.test_scenes, 64), os.path.join(args.out, "parity_coco")
    scenes = make_scenes("test", count)
    if not os.path.exists(os.path.join(root, "annotations", "instances_train.json")):
        write_coco(root, "train", (_exported(scenes, n) for n in range(count)), FASHION_CLASSES)
    ours, theirs = (next(iter(ds)) for ds in (
        load_dense("fashion_mnist_scenes", "test", "detection", batch_size=count, limit=count, shuffle=False),
        load_dense(f"coco:{root}", "train", "detection", batch_size=count, shuffle=False, image_size=(96, 128))))
    left = (128 - 96) // 2
    scene_pixels, export_pixels = ours[0].numpy()[..., 0], theirs[0].numpy()[:, :, left:left + 96]
    objects = ours[1]["classes"].numpy() >= 0
    width = min(objects.shape[1], theirs[1]["classes"].shape[1])
    shift = np.array([left, 0, left, 0], np.float32)
    scene_info, export_info = dense_info("fashion_mnist_scenes"), dense_info(f"coco:{root}", image_size=(96, 128))
    return {
        "scenes": count,
        "pixel_abs_diff_max": float(np.abs(export_pixels - scene_pixels[..., None]).max()),
        "pixel_abs_diff_mean": float(np.abs(export_pixels - scene_pixels[..., None]).mean()),
        "channels_equal": bool((export_pixels == export_pixels[..., :1]).all()),
        "padding_max": float(max(np.abs(theirs[0].numpy()[:, :, :left]).max(), np.abs(theirs[0].numpy()[:, :, -left:]).max())),
        "box_abs_diff_max": float(np.abs(ours[1]["boxes"].numpy()[:, :width][objects[:, :width]]
                                         - (theirs[1]["boxes"].numpy()[:, :width][objects[:, :width]] - shift)).max()),
        "classes_equal": bool((ours[1]["classes"].numpy()[:, :width] == theirs[1]["classes"].numpy()[:, :width]).all()),
        "normalization": {"scenes": {"mean": scene_info.mean, "std": scene_info.std},
                          "coco_export": {"mean": export_info.mean[:1], "std": export_info.std[:1]}},
    }


HEADS = ("localizer", *SEGMENTERS, *DETECTORS)
SECTIONS = {"localization": localization, "segmentation": segmentation, "transfer": transfer, "detection": detection,
            "coco_export": coco_export, "loader_parity": loader_parity}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 64 scenes, 64 test scenes, no transfer")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--backbone", default="resnet20")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--detection-epochs", type=int, help="epochs of the detectors (default: --epochs)")
    parser.add_argument("--models", default=",".join(HEADS), help="the heads to train (default: all)")
    parser.add_argument("--results", default="dense", help="bench/results/NAME.json")
    parser.add_argument("--train-scenes", type=int, default=6000)
    parser.add_argument("--stream", action="store_true", help="train on new scenes without end instead of "
                        "--train-scenes (data.stream; needs --set steps_per_epoch=N)")
    parser.add_argument("--test-scenes", type=int, default=1000)
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--classifier-images", type=int, default=55000)
    parser.add_argument("--freeze-epochs", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_dense")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every head, e.g. model.kwargs.backbone_kwargs.bn_momentum=0.99")
    parser.add_argument("--reuse", metavar="NAME", help="take the sections of bench/results/NAME.json as done (the "
                        "transfer section's scratch U-Net); its backbone, scenes and overrides must be these")
    args = parser.parse_args()
    sections = args.sections.split(",")
    if args.quick:
        args.epochs, args.detection_epochs, args.train_scenes, args.test_scenes = 1, 1, 64, 64
        sections = [s for s in sections if s != "transfer"]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    args.models = args.models.split(",")
    unknown = [m for m in args.models if m not in HEADS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(HEADS)}")
    results = {"quick": args.quick, "backbone": args.backbone,
               "train_scenes": "stream" if args.stream else args.train_scenes,
               "test_scenes": args.test_scenes, "overrides": RECIPE + args.set}
    done = dict(results, **reused(args.reuse, results)) if args.reuse else results
    start = time.time()
    name = args.results + ("_quick" if args.quick else "")

    def finished(run: str, result: dict) -> None:  # written after every head: a stopped long run keeps them
        results.setdefault("heads", {})[run] = result  # until its section ends and holds them
        results["wall_seconds"] = round(time.time() - start, 1)
        write_results(name, results)

    args.finished = finished
    for section in sections:
        print(f"{section}:", flush=True)
        results[section] = done[section] = SECTIONS[section](args, done)
        results.pop("heads", None)
        results["wall_seconds"] = round(time.time() - start, 1)
        path = write_results(name, results)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()

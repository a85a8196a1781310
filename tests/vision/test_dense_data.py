"""The dense heads on the user's own data: COCO, VOC and image/mask folders (and tfds names) at a non-square model
size; the loader's resize/letterbox inverted recovers the drawn boxes and masks; each head family trains a few
steps through ``kerazoo train``, then evaluates and predicts on the original image."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import yaml
from dense_formats import write_coco, write_masks, write_voc

from kerazoo.cli import main
from kerazoo.datasets import dense
from kerazoo.datasets.voc import VOC_CLASSES
from kerazoo.vision.data import dense_info, load_dense, original_examples

SIZE = (48, 64)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("dense")
    coco, voc, masks = str(base / "coco"), str(base / "voc"), str(base / "masks")
    return {"coco": (coco, write_coco(coco)), "voc": (voc, write_voc(voc)), "masks": (masks, write_masks(masks))}


@pytest.mark.parametrize("prefix,task", [("coco", "detection"), ("coco", "instance"), ("coco", "segmentation"),
                                         ("voc", "detection"), ("voc", "segmentation"), ("masks", "segmentation"),
                                         ("coco", "localization")])
def test_batches_have_the_model_size(folders, prefix, task):
    root, _ = folders[prefix]
    images, targets = next(iter(load_dense(f"{prefix}:{root}", "val", task, batch_size=2, image_size=SIZE)))
    assert images.shape == (2, *SIZE, 3) and images.dtype == tf.float32
    if task == "segmentation":
        assert targets.shape == (2, *SIZE) and targets.dtype == tf.int32 and targets.numpy().max() >= 1
    elif task == "localization":
        assert targets["class"].shape == (2,) and targets["box"].shape == (2, 4)
    else:
        assert targets["boxes"].shape == (2, 2, 4) and targets["classes"].shape == (2, 2)  # 2 objects at most,
        assert (targets["classes"].numpy() >= 0).all()  # the crowd region is no training box
        if task == "instance":
            assert targets["masks"].shape == (2, 2, *SIZE) and targets["masks"].dtype == tf.bool


@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
def test_round_trip_recovers_boxes_and_masks_to_a_pixel(folders, resize):
    """Boxes and masks drawn into the images, through the loader's transform and back with its inverse."""
    root, drawn = folders["coco"]
    ds = load_dense(f"coco:{root}", "train", "instance", batch_size=1, image_size=SIZE, resize=resize,
                    shuffle=False)
    for (images, targets), (image, objects) in zip(ds, drawn["train"]):
        height, width = image.shape[:2]
        new_h, new_w, top, left = dense.placement(height, width, SIZE, resize)
        back = dense.to_original_boxes(targets["boxes"][0].numpy(), height, width, SIZE, resize)
        np.testing.assert_allclose(back, [box for _, box in objects], atol=1.0)
        for k, (label, box) in enumerate(objects):
            # the colour lands where the transformed box says (bilinear edges: within a pixel)
            x1, y1, x2, y2 = targets["boxes"][0, k].numpy()
            pixels = images[0].numpy()
            coloured = (pixels[..., label] > 120) & (pixels[..., 1 - label] < 120)  # red or green, half covered
            rows, cols = np.nonzero(coloured)
            np.testing.assert_allclose([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], [x1, y1, x2, y2],
                                       atol=1.0)
            mask = targets["masks"][0, k].numpy()[top:top + new_h, left:left + new_w].astype(np.uint8)
            mask = tf.image.resize(mask[..., None], (height, width), method="nearest").numpy()[..., 0]
            rows, cols = np.nonzero(mask)
            np.testing.assert_allclose([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], box, atol=1.0)
        if resize == "letterbox":  # the padding is black, the aspect ratio kept
            assert abs(new_w / new_h - width / height) < 0.05
            assert images[0, :top].numpy().max(initial=0) == 0 and images[0, top + new_h:].numpy().max(initial=0) == 0


def _examples(features):
    def as_dataset_fn(builder, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices(features)

    return as_dataset_fn


def test_tfds_names_go_through_the_same_schema(tmp_path):
    # voc/2007: a 40x80 image with one box in tfds' normalized [ymin, xmin, ymax, xmax]; letterboxed into 48x64
    image = np.zeros((1, 40, 80, 3), np.uint8)
    bbox = np.array([[[0.25, 0.5, 0.75, 1.0]]], np.float32)
    with tfds.testing.mock_data(as_dataset_fn=_examples({"image": image, "objects": {
            "bbox": bbox, "label": np.array([[4]], np.int64)}})):
        images, targets = next(iter(load_dense("voc/2007", "train", "detection", batch_size=1, image_size=SIZE,
                                               data_dir=str(tmp_path))))
        original = list(original_examples("voc/2007", "train", "detection", data_dir=str(tmp_path)))
    assert images.shape == (1, *SIZE, 3)
    np.testing.assert_allclose(targets["boxes"][0, 0].numpy(), [32, 16, 64, 32], atol=1e-4)  # 0.8 x, 8 px down
    # what evaluation scores against: the image and its box in original pixels
    assert len(original) == 1 and original[0]["image"].shape == (40, 80, 3)
    np.testing.assert_allclose(original[0]["boxes"], [[40, 10, 80, 30]], atol=1e-4)
    annotation = np.zeros((1, 30, 20, 3), np.uint8)
    annotation[0, 15:] = 7
    with tfds.testing.mock_data(as_dataset_fn=_examples({"image": annotation, "annotation": annotation})):
        _, masks = next(iter(load_dense("scene_parse150", "train", "segmentation", batch_size=1, image_size=SIZE,
                                        data_dir=str(tmp_path))))
    assert masks.shape == (1, *SIZE) and masks[0, 40, 32] == 7 and masks[0, 10, 32] == 0
    with tfds.testing.mock_data(num_examples=2):
        info = dense_info("voc/2007", data_dir=str(tmp_path), image_size=[48, 64])
    assert info.image_shape == (48, 64, 3) and info.num_classes == 20


def test_dense_models_need_a_fixed_size():
    from kerazoo.applications import create_model

    with pytest.raises(ValueError, match=r"fixed image size .* set model.input_size"):
        create_model("ssd", backbone="lenet5", classes=3, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"fixed image size .* set model.input_size"):
        create_model("unet", backbone="lenet5", classes=3, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"Invalid image size: expected a positive integer or \[height, width\]"):
        load_dense("voc/2007", "train", "detection", image_size=(48, 0))
    with pytest.raises(ValueError, match="Invalid resize policy"):
        load_dense("voc/2007", "train", "detection", resize="crop")


def _task_config(root, model, prefix="coco"):
    from kerazoo.training import load_config

    return load_config(overrides=[f"model.name={model}", "model.kwargs.backbone=lenet5",
                                  f"data.dataset={prefix}:{root}", f"model.input_size=[{SIZE[0]}, {SIZE[1]}]",
                                  "data.batch_size=2"])


def test_predictions_map_back_to_the_original_image(folders):
    """predict_image (the graph mapping, also exported) agrees with the loader's NumPy inverse on a 60x80 image."""
    from kerazoo.training.tasks import get_task

    root, drawn = folders["coco"]
    image = np.pad(drawn["train"][0][0].astype(np.float32), ((0, 0), (0, 20), (0, 0)))  # 60x100
    task = get_task("localization")
    config = _task_config(root, "localizer")
    model = task.build(config, task.dataset_info(config))
    new_h, new_w, top, left = dense.placement(60, 100, SIZE)
    assert (new_h, new_w, top, left) == (38, 64, 5, 0)
    placed = tf.image.pad_to_bounding_box(tf.image.resize(image, (new_h, new_w)), top, left, *SIZE)
    at_model_size = task.predict_image(model, placed.numpy())
    prediction = task.predict_image(model, image)
    np.testing.assert_allclose(prediction["boxes"], dense.to_original_boxes(at_model_size["boxes"], 60, 100, SIZE),
                               atol=1e-3)
    np.testing.assert_allclose(prediction["probabilities"], at_model_size["probabilities"], atol=1e-5)
    segmenter = get_task("segmentation")
    config = _task_config(folders["masks"][0], "fcn8s", "masks")
    model = segmenter.build(config, segmenter.dataset_info(config))
    prediction = segmenter.predict_image(model, image, resize="stretch")
    assert prediction["masks"].shape == (60, 100) and prediction["probabilities"].shape == (60, 100, 3)
    picture = segmenter.draw(image, prediction, segmenter.dataset_info(config))
    assert picture.shape[:2] == (60, 100 + 96) and picture.dtype == np.uint8  # the image at its size, the legend


COMMON = ["data.augment=[flip]", "jit_compile=false", "strategy=default", "optimizer.name=adam",
          "optimizer.lr=0.003", "optimizer.weight_decay=0", f"model.input_size=[{SIZE[0]}, {SIZE[1]}]",
          "--epochs", "1", "--batch-size", "3", "--seed", "0"]
HEADS = {
    "localizer": ("coco", ["--backbone", "lenet5"]),
    "unet": ("voc", ["--backbone", "lenet5"]),
    "fcn8s": ("masks", ["--backbone", "lenet5"]),
    "ssd": ("coco", ["model.kwargs={backbone: lenet5, width: 16, head_depth: 1, anchor_sizes: [8.0, 16.0]}"]),
    "mask_rcnn": ("coco", ["model.kwargs={backbone: lenet5, anchor_size: 8.0, width: 16, proposals: 8, "
                           "fc_units: 32}"]),
}
"""Each head family, on a dataset of its kind. Models stay tiny: the point is the data path."""


@pytest.mark.slow
@pytest.mark.parametrize("model", list(HEADS))
def test_train_evaluate_predict_on_a_folder(folders, model, tmp_path, capsys):
    prefix, flags = HEADS[model]
    root, drawn = folders[prefix]
    out = str(tmp_path / model)
    assert main(["train", model, "--dataset", f"{prefix}:{root}", "--out", out, *COMMON, *flags]) == 0
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(out, "dataset.json")) as f:
        assert json.load(f)["image_shape"] == [*SIZE, 3]
    with open(os.path.join(out, "config.yaml")) as f:  # the folder's length is known: 6 images, batches of 3
        assert yaml.safe_load(f)["resolved"]["steps_per_epoch"] == 2
    capsys.readouterr()
    assert main(["evaluate", out]) == 0
    figures = json.loads(capsys.readouterr().out)
    if model in ("unet", "fcn8s"):
        assert set(figures["class_iou"]) >= {"background"} and 0 <= summary["mean_iou"] <= 1
    elif model in ("ssd", "mask_rcnn"):
        assert {"mAP", "mAP50", "class_AP50"} <= set(figures) and set(figures["class_AP50"]) == {"red", "green"}
        if model == "mask_rcnn":
            assert "mask_mAP" in figures
    else:
        assert {"accuracy", "mean_iou"} <= set(figures)
    image = (drawn["val"] if isinstance(drawn, dict) else drawn)[0][0]
    path, picture_path = str(tmp_path / "image.png"), str(tmp_path / "pred.png")
    from PIL import Image

    Image.fromarray(image).save(path)
    assert main(["predict", out, path, "--out", picture_path]) == 0
    picture = np.asarray(Image.open(picture_path))
    assert picture.shape[0] >= image.shape[0] and picture.shape[1] >= image.shape[1]  # the original size (+ legend)
    if model not in ("ssd", "unet"):
        return
    # exported, it takes images of any size and answers in their pixels, with the class names in its metadata
    from kerazoo.training.run import load_run_model
    from kerazoo.training.tasks import task_for_model

    repo = str(tmp_path / "models")
    assert main(["export", out, "--repo", repo, "--name", model]) == 0
    with open(os.path.join(repo, model, "1", "kerazoo.json")) as f:
        meta = json.load(f)
    assert meta["input"]["shape"] == [None, None, 3] and meta["input"]["model_size"] == list(SIZE)
    assert meta["class_names"] == (["red", "green"] if prefix == "coco" else list(VOC_CLASSES))
    served = tf.saved_model.load(os.path.join(repo, model, "1")).signatures["serving_default"](
        images=tf.constant(image[None].astype(np.float32)))
    expected = task_for_model(model).predict_image(load_run_model(out), image.astype(np.float32))
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy()[0], value, atol=1e-3)

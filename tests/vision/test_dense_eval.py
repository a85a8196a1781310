"""Evaluation of the dense heads on the user's own data happens in each original image's pixels: a split of mixed
image sizes, letterboxed to a non-square model size, scored against the annotations as the files have them. An
oracle stands in for the model (it finds the solid rectangles of ``dense_formats`` in whatever image it is given),
so a wrong mapping back to the original image shows up as lost AP."""

import os

import numpy as np
import pytest
import tensorflow as tf
from dense_formats import write_coco

from kerazoo.training import load_config
from kerazoo.training.tasks import get_task

SIZE = (48, 64)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("dense_eval")
    coco = str(base / "coco")
    return {"coco": (coco, write_coco(coco))}


def _config(prefix, root, model, resize="letterbox"):
    return load_config(overrides=[f"model.name={model}", "model.kwargs.backbone=lenet5", f"data.dataset={prefix}:{root}",
                                  f"model.input_size=[{SIZE[0]}, {SIZE[1]}]", "data.batch_size=2",
                                  f"data.resize={resize}", "data.test_split=val"])


def _colour_masks(images):
    """bool [B, H, W, 2]: where each class's colour is (past half way from the dark background: edges included)."""
    red, green = images[..., 0], images[..., 1]
    return tf.stack([(red > 122) & (green < 140), (green > 117) & (red < 140)], axis=-1)


def oracle_detections(model, images):
    """The TF OD API outputs of a perfect detector of ``dense_formats``' rectangles, at the given images' size."""
    found = _colour_masks(tf.cast(images, tf.float32))
    height, width = (float(v) for v in images.shape[1:3])

    def extent(any_along, length):  # first and one-past-last index where the class shows
        first = tf.cast(tf.argmax(tf.cast(any_along, tf.int32), axis=1), tf.float32)
        last = length - tf.cast(tf.argmax(tf.cast(tf.reverse(any_along, [1]), tf.int32), axis=1), tf.float32)
        return first, last

    y1, y2 = extent(tf.reduce_any(found, axis=2), height)  # [B, 2]
    x1, x2 = extent(tf.reduce_any(found, axis=1), width)
    boxes = tf.stack([y1 / height, x1 / width, y2 / height, x2 / width], axis=-1)
    batch = tf.shape(images)[0]
    return {"detection_boxes": boxes, "detection_scores": tf.ones((batch, 2)),
            "detection_classes": tf.tile([[1.0, 2.0]], [batch, 1]), "num_detections": tf.fill([batch], 2.0)}


def oracle_segmentation(model, images):
    found = tf.cast(_colour_masks(tf.cast(images, tf.float32)), tf.float32)
    probabilities = tf.concat([1.0 - tf.reduce_max(found, -1, keepdims=True), found], axis=-1)
    return {"probabilities": probabilities, "masks": tf.cast(tf.argmax(probabilities, -1), tf.int32)}


@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
def test_detection_map_is_computed_in_original_pixels_of_mixed_sizes(folders, resize, monkeypatch):
    from kerazoo.vision.detection import task as detection

    root, drawn = folders["coco"]
    task = get_task("detection")
    config = _config("coco", root, "ssd", resize)
    model = task.build(config, task.dataset_info(config))
    monkeypatch.setattr(task, "serving_outputs", oracle_detections)
    seen = {}

    def recording(predictions, truth, **kwargs):
        seen.update(predictions=predictions, truth=truth)
        return evaluate(predictions, truth, **kwargs)

    evaluate = detection.coco_evaluate
    monkeypatch.setattr(detection, "coco_evaluate", recording)
    figures = task.evaluate(model, config)
    assert figures["examples"] == 3 and figures["images"] == 3
    # the ground truth is the files' own: original pixels of 60x80, 45x90 and 72x54 images, the crowd kept as such
    for truth, (image, objects) in zip(seen["truth"], drawn["val"]):
        np.testing.assert_array_equal(truth["boxes"][:2], [box for _, box in objects])
        assert truth["crowd"].tolist() == ([False, False, True] if len(truth["crowd"]) == 3 else [False, False])
    for prediction, (image, objects) in zip(seen["predictions"], drawn["val"]):  # mapped back to within a pixel
        np.testing.assert_allclose(prediction["boxes"], [box for _, box in objects], atol=1.01)
    assert figures["mAP50"] == pytest.approx(1.0) and figures["mAP"] > 0.6
    assert set(figures["class_AP50"]) == {"red", "green"}


def test_crowd_regions_are_neither_hits_nor_false_positives():
    from kerazoo.vision.detection.coco import coco_evaluate

    truth = [{"boxes": np.array([[10, 10, 30, 30], [40, 0, 60, 20]], np.float32), "classes": np.array([0, 0]),
              "crowd": np.array([False, True])}]
    on_crowd = [{"boxes": np.array([[10, 10, 30, 30], [40, 0, 60, 20]], np.float32), "scores": np.array([0.9, 0.95]),
                 "classes": np.array([0, 0])}]
    assert coco_evaluate(on_crowd, truth, num_classes=1)["mAP50"] == pytest.approx(1.0)
    not_crowd = [{**truth[0], "crowd": np.array([False, False])}]
    assert coco_evaluate(on_crowd, not_crowd, num_classes=1)["mAP50"] == pytest.approx(1.0)
    missed = [{"boxes": on_crowd[0]["boxes"][:1], "scores": np.array([0.9]), "classes": np.array([0])}]
    assert coco_evaluate(missed, truth, num_classes=1)["mAP50"] == pytest.approx(1.0)  # a crowd needs no hit
    assert coco_evaluate(missed, not_crowd, num_classes=1)["mAP50"] == pytest.approx(0.5, abs=0.01)


def test_segmentation_iou_is_computed_at_each_mask_original_size(folders, monkeypatch):
    root, drawn = folders["coco"]  # masks painted from polygons and RLE (the crowd too: the oracle misses it)
    task = get_task("segmentation")
    config = _config("coco", root, "fcn8s")
    model = task.build(config, task.dataset_info(config))
    monkeypatch.setattr(task, "serving_outputs", oracle_segmentation)
    from kerazoo.datasets import dense

    source = dense.open_source(f"coco:{root}")
    records = dense.split_records(source, "val")
    assert len({(r.height, r.width) for r in records}) == len(records) >= 2  # mixed sizes
    figures = task.evaluate(model, config)
    assert figures["examples"] == len(records)
    assert figures["pixels"] == sum(r.height * r.width for r in records)  # every original pixel, no more
    assert set(figures["class_iou"]) == {"background", "red", "green"}
    assert figures["mean_iou"] > 0.9 and figures["pixel_accuracy"] > 0.97


def test_folder_normalization_is_the_training_images_own(folders):
    from kerazoo.datasets import dense
    from kerazoo.vision.data import dense_info

    root, _ = folders["coco"]
    info = dense_info(f"coco:{root}", image_size=SIZE)
    source = dense.open_source(f"coco:{root}")
    pixels = np.concatenate([dense.read_image(r.image_path).reshape(-1, 3) for r in source.splits["train"]]) / 255.0
    np.testing.assert_allclose(info.mean, pixels.mean(0), rtol=1e-6)
    np.testing.assert_allclose(info.std, pixels.std(0), rtol=1e-5)
    assert max(info.mean) < 0.3  # dark scenes: far from ImageNet's 0.485 / 0.456 / 0.406


@pytest.mark.parametrize("model_name,kind", [("ssd", "detection"), ("unet", "segmentation")])
def test_export_at_a_non_square_size_serves_original_pixels_and_class_names(folders, model_name, kind, tmp_path):
    import json

    from kerazoo.export.exporter import _export_task_run

    root, drawn = folders["coco"]
    config = _config("coco", root, model_name)
    if model_name == "ssd":  # a tiny one
        config = load_config(overrides=["model.name=ssd", f"data.dataset=coco:{root}", "data.batch_size=2",
                                        f"model.input_size=[{SIZE[0]}, {SIZE[1]}]", "model.kwargs={backbone: lenet5, "
                                        "width: 16, head_depth: 1, anchor_sizes: [8.0, 16.0]}"])
    task = get_task(kind)
    info = task.dataset_info(config)
    model = task.build(config, info)
    path = _export_task_run(task, model, config, info, str(tmp_path), str(tmp_path / "models"), model_name, None,
                            "best", ("saved_model",))
    with open(os.path.join(path, "kerazoo.json")) as f:
        meta = json.load(f)
    assert meta["input"]["shape"] == [None, None, 3] and meta["input"]["model_size"] == list(SIZE)
    assert meta["class_names"] == ["red", "green"]
    signature = tf.saved_model.load(path).signatures["serving_default"]
    for image, _ in drawn["val"]:  # 60x80, 45x90, 72x54: each answered in its own pixels
        served = signature(images=tf.constant(image[None].astype(np.float32)))
        expected = task.predict_image(model, image.astype(np.float32))
        for key, value in expected.items():
            np.testing.assert_allclose(served[key].numpy()[0], value, atol=1e-3)
        if kind == "segmentation":
            assert served["masks"].shape[1:] == image.shape[:2]


@pytest.mark.parametrize("model_name,kind", [("fcn8s", "segmentation"), ("ssd", "detection")])
def test_predict_draws_several_images_and_folders_at_their_own_sizes(folders, model_name, kind, tmp_path,
                                                                     monkeypatch, capsys):
    from PIL import Image

    from kerazoo.cli import main
    from kerazoo.runs import RunDir
    from kerazoo.training import run

    root, drawn = folders["coco"]
    config = _config("coco", root, model_name)
    task = get_task(kind)
    info = task.dataset_info(config)
    model = task.build(config, info)
    # a run directory's contents without training one (the run directory's own code is tested elsewhere)
    monkeypatch.setattr(run, "load_run_config", lambda path: config)
    monkeypatch.setattr(run, "load_run_info", lambda path: info)
    monkeypatch.setattr(RunDir, "load_model", lambda self: model)
    (tmp_path / "run").mkdir()
    (tmp_path / "photos").mkdir()
    (image_a, _), (image_b, _), (image_c, _) = drawn["val"]
    Image.fromarray(image_a).save(tmp_path / "photos" / "a.png")
    Image.fromarray(image_b).save(tmp_path / "photos" / "b.jpg", quality=95)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    Image.fromarray(image_c).save(tmp_path / "c.png")
    out = str(tmp_path / "drawn")
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "photos"), str(tmp_path / "c.png"),
                 "--out", out + "/"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    legend = 96 if kind == "segmentation" else 0  # masks come with a legend of the classes at the right
    for name, image in (("a", image_a), ("b", image_b), ("c", image_c)):
        picture = np.asarray(Image.open(os.path.join(out, f"{name}.png")))
        assert picture.shape[0] >= image.shape[0] and picture.shape[1] == image.shape[1] + legend
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "run"), "--out", out]) != 0
    assert "Invalid image folder" in capsys.readouterr().err  # the run folder holds no images
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "c.png")]) != 0
    assert "Missing --out" in capsys.readouterr().err


def test_default_splits_of_a_folder_are_its_own_train_and_val(folders):
    root, _ = folders["coco"]
    task = get_task("segmentation")
    config = load_config(overrides=["model.name=fcn8s", "model.kwargs.backbone=lenet5", f"data.dataset=coco:{root}",
                                    f"model.input_size=[{SIZE[0]}, {SIZE[1]}]", "data.batch_size=2",
                                    "data.augment=[]"])
    train, val = task.pipelines(config, 1)  # 6 training images and 3 validation ones, in batches of 2
    assert int(train.cardinality()) == 3 and int(val.cardinality()) == 2

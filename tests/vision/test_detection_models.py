"""Detectors build on a plain, a residual and a MobileNet v2 backbone, train, export the TF Object Detection API
signature, and reject bad input clearly; the "detection" Task trains and evaluates a run end to end."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo.applications import create_model, list_models
from kerazoo.export.exporter import write_saved_model
from kerazoo.training.tasks import get_task
from kerazoo.vision.detection.task import pack_targets

BACKBONES = [("lenet5", {}), ("resnet20", {}), ("mobilenetv2", {"alpha": 0.35})]
SHAPE = (32, 32, 1)
SMALL = {"input_shape": SHAPE, "anchor_sizes": (8.0, 16.0), "width": 16, "head_depth": 1}
OD_API_KEYS = {"detection_boxes", "detection_scores", "detection_classes", "num_detections"}


def _batch(n=2):
    """Images with one bright rectangle each, and its box (class 3) as padded ground truth."""
    images = np.zeros((n, *SHAPE), np.float32)
    boxes = np.full((n, 3, 4), -1, np.float32)
    classes = np.full((n, 3), -1, np.int32)
    for i in range(n):
        x, y = 4 + 6 * i, 6 + 3 * i
        images[i, y : y + 12, x : x + 10] = 255
        boxes[i, 0], classes[i, 0] = [x, y, x + 10, y + 12], 3
    return images, np.asarray(pack_targets({"boxes": boxes, "classes": classes}))


def test_detectors_are_registered_with_the_detection_task():
    assert {"ssd", "retinanet"} <= set(list_models(task="detection"))
    assert get_task("detection").name == "detection"


# The plain backbone in the default tier; the residual and MobileNet v2 ones (slower to trace) in the slow tier.
COMBINATIONS = [
    pytest.param(name, backbone, kwargs, id=f"{name}-{backbone}", marks=() if backbone == "lenet5" else pytest.mark.slow)
    for backbone, kwargs in BACKBONES for name in ("ssd", "retinanet")
]


@pytest.mark.parametrize("name,backbone,kwargs", COMBINATIONS)
def test_detector_builds_and_trains_a_step(name, backbone, kwargs):
    model = create_model(name, backbone=backbone, classes=5, backbone_kwargs=kwargs, **SMALL)
    images, y_true = _batch()
    out = model(images)
    count = out["boxes"].shape[1]
    assert out["scores"].shape == (2, count, 5)
    boxes = keras.ops.convert_to_numpy(out["boxes"])
    assert boxes.min() >= 0 and boxes[..., 2].max() <= 32 and boxes[..., 3].max() <= 32  # clipped to the image
    assert [layer.name for layer in model.layers if layer.name.startswith(("conv2d", "reshape", "concatenate"))] == []
    task = get_task("detection")
    trainer = task.trainer(model, _config(name))
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3), loss=_loss(name, trainer.anchors), jit_compile=False)
    before = model.get_layer("box_head_out").get_weights()[0].copy()
    loss = trainer.fit(images, y_true, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
    assert not np.allclose(before, model.get_layer("box_head_out").get_weights()[0])


def _config(name):
    from kerazoo.training import load_config

    return load_config(overrides=[f"model.name={name}"])


def _loss(name, anchors):
    from kerazoo.vision.detection.single_shot import SingleShotLoss

    return SingleShotLoss(anchors, classification="hard_negative" if name == "ssd" else "focal")


@pytest.mark.parametrize("name", ["retinanet", pytest.param("ssd", marks=pytest.mark.slow)])
def test_loss_goes_down_on_a_seeded_tiny_run(name):
    model = create_model(name, backbone="lenet5", classes=5, **SMALL)
    trainer = get_task("detection").trainer(model, _config(name))
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3), loss=_loss(name, trainer.anchors), jit_compile=False)
    images, y_true = _batch(4)
    losses = trainer.fit(images, y_true, epochs=6, batch_size=4, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0]


def test_saved_model_returns_the_od_api_signature_and_matches(tmp_path):
    task = get_task("detection")
    model = create_model("retinanet", backbone="lenet5", classes=5, **SMALL)
    images, _ = _batch(3)
    path = str(tmp_path / "sm")
    write_saved_model(model, path, task.serving_outputs)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    expected = task.serving_outputs(model, tf.constant(images))
    assert set(served) == set(expected) == OD_API_KEYS
    assert served["detection_boxes"].shape == (3, 100, 4) and served["num_detections"].shape == (3,)
    for key in expected:
        np.testing.assert_allclose(served[key].numpy(), keras.ops.convert_to_numpy(expected[key]), atol=1e-4)


def test_saved_keras_model_reloads_safely_with_equal_outputs(tmp_path):
    model = create_model("ssd", backbone="lenet5", classes=5, **SMALL)
    path = str(tmp_path / "ssd.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    images, _ = _batch(2)
    for key, value in model(images).items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(images)[key]),
                                   keras.ops.convert_to_numpy(value), atol=1e-5)


def test_bad_backbones_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="resnet50v2.*no feature level at stride 2"):
        create_model("ssd", backbone="resnet50v2", input_shape=(64, 64, 3), anchor_levels=(2, 4),
                     anchor_sizes=(4, 8))
    with pytest.raises(ValueError, match="smaller than the largest stride"):
        create_model("retinanet", backbone="resnet20", input_shape=(12, 12, 1))
    with pytest.raises(ValueError, match="powers of two"):
        create_model("retinanet", backbone="resnet20", input_shape=SHAPE, anchor_levels=(8, 12))
    with pytest.raises(ValueError, match="one size per level"):
        create_model("retinanet", backbone="resnet20", input_shape=SHAPE, anchor_sizes=(8.0,))
    with pytest.raises(ValueError, match="Unknown model name 'resnt20'"):
        create_model("ssd", backbone="resnt20", input_shape=SHAPE)


@pytest.mark.slow
def test_train_evaluate_and_predict_a_detection_run(tmp_path, idx_data_dir):
    """``kerazoo train ssd`` on scenes made from the tiny IDX data, then evaluate (COCO figures) and draw."""
    from kerazoo.training import load_config, load_run_model, train

    config = load_config(overrides=[
        "model.name=ssd", "model.kwargs={backbone: lenet5, width: 16, head_depth: 1}",
        "data.dataset=fashion_mnist_scenes", f"data.data_dir={idx_data_dir}", "data.train_split=train",
        "data.val_split=test", "data.test_split=test", "data.limit=16", "data.batch_size=8", "epochs=1",
        "optimizer.name=adam", "optimizer.lr=0.001", "strategy=default", "jit_compile=false",
    ])
    task = get_task("detection")
    run = train(config, str(tmp_path / "ssd"), verbose=0)
    with open(os.path.join(run, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    assert {"mAP", "mAP50", "mAP75"} <= set(summary) and 0.0 <= summary["mAP50"] <= 1.0
    model = load_run_model(run)
    figures = task.evaluate(model, config, limit=8)
    assert figures["examples"] == 8 and figures["images"] == 8
    # A fresh process that imported only kerazoo.training loads the detector too (its layers get registered).
    fresh = subprocess.run([sys.executable, "-c", "import sys; from kerazoo.training.run import load_run_model; "
                            "print(load_run_model(sys.argv[1]).count_params())", run],
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert int(fresh.stdout.split()[-1]) == model.count_params()
    image = np.zeros((96, 96, 1), np.float32)
    prediction = task.predict_image(model, image)
    assert set(prediction) == OD_API_KEYS and prediction["detection_boxes"].shape == (100, 4)
    drawn = task.draw(image, prediction, task.dataset_info(config))
    assert drawn.shape == (96, 96, 3) and drawn.dtype == np.uint8


TWO_STAGE_SMALL = {"input_shape": SHAPE, "anchor_size": 8.0, "width": 16, "proposals": 8, "fc_units": 32}


def _instance_targets(y_true):
    """Instance masks [B, M, H, W] filling each packed box (the rectangles of ``_batch``)."""
    masks = np.zeros((*y_true.shape[:2], *SHAPE[:2]), np.float32)
    for b, m in zip(*np.nonzero(y_true[..., 4] >= 0)):
        x1, y1, x2, y2 = y_true[b, m, :4].astype(int)
        masks[b, m, y1:y2, x1:x2] = 1
    return {"objects": y_true, "masks": masks}


TWO_STAGE_COMBINATIONS = [
    pytest.param(name, backbone, kwargs, id=f"{name}-{backbone}", marks=() if backbone == "lenet5" else pytest.mark.slow)
    for backbone, kwargs in BACKBONES for name in ("faster_rcnn", "mask_rcnn")
]


@pytest.mark.parametrize("name,backbone,kwargs", TWO_STAGE_COMBINATIONS)
def test_two_stage_detector_builds_on_each_backbone(name, backbone, kwargs):
    model = create_model(name, backbone=backbone, classes=5, backbone_kwargs=kwargs, **TWO_STAGE_SMALL)
    images, _ = _batch()
    out = model(images)
    assert out["boxes"].shape == (2, 8, 4) and out["scores"].shape == (2, 8, 5)
    if name == "mask_rcnn":
        assert out["masks"].shape == (2, 8, 28, 28, 5)
    assert [layer.name for layer in model.layers if layer.name.startswith(("conv2d", "dense", "reshape"))] == []


def test_mask_size_sets_the_mask_resolution_and_must_be_even():
    model = create_model("mask_rcnn", backbone="lenet5", classes=5, mask_size=14, **TWO_STAGE_SMALL)
    assert model(_batch()[0])["masks"].shape == (2, 8, 14, 14, 5)
    with pytest.raises(ValueError, match="mask_size"):
        create_model("mask_rcnn", backbone="lenet5", classes=5, mask_size=15, **TWO_STAGE_SMALL)


def test_mask_head_trains_on_positive_regions_first():
    from kerazoo.vision.detection.two_stage import MASK_REGIONS, two_stage_loss

    model = create_model("mask_rcnn", backbone="lenet5", classes=5, **{**TWO_STAGE_SMALL, "proposals": 16})
    trainer = get_task("detection").trainer(model, _config("mask_rcnn"))
    images, y_true = _batch(2)
    y = _instance_targets(y_true)
    out = dict(trainer(images))
    # Proposals far from the objects, but for regions 9 and 12 of each image, which are the object's own box.
    proposals = np.tile(np.array([0, 0, 2, 2], np.float32), (2, 16, 1))
    proposals[:, [9, 12]] = y_true[:, :1, :4]
    out["proposals"] = out["boxes"] = keras.ops.convert_to_tensor(proposals)
    seen = []

    def zero_logits(features, boxes):  # logits 0: every pixel's cross-entropy is log 2
        seen.append(keras.ops.convert_to_numpy(boxes))
        return keras.ops.zeros((2, boxes.shape[1], 28, 28, 5))

    with_masks = two_stage_loss(trainer.anchors, y_true, out, y["masks"], zero_logits)
    without = two_stage_loss(trainer.anchors, y_true, out)
    assert seen[0].shape == (2, MASK_REGIONS, 4)
    for b in range(2):  # both positives reach the mask head, ahead of the negatives
        np.testing.assert_allclose(seen[0][b, :2], proposals[b, [9, 12]])
    np.testing.assert_allclose(float(with_masks) - float(without), np.log(2.0), rtol=1e-5)


@pytest.mark.parametrize("name", ["faster_rcnn", "mask_rcnn"])
def test_two_stage_detector_trains(name):
    model = create_model(name, backbone="lenet5", classes=5, **TWO_STAGE_SMALL)
    trainer = get_task("detection").trainer(model, _config(name))
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    images, y_true = _batch(4)
    y = _instance_targets(y_true) if name == "mask_rcnn" else y_true
    before = model.get_layer("rpn_box").get_weights()[0].copy()
    # 8 steps: Mask R-CNN on the padded LeNet-5 maps first rises for a step or two (measured 9.09 → 10.98 → ... → 7.95)
    losses = trainer.fit(images, y, epochs=8, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert not np.allclose(before, model.get_layer("rpn_box").get_weights()[0])


@pytest.mark.slow
def test_mask_rcnn_exports_masks_and_reloads_with_equal_outputs(tmp_path):
    task = get_task("detection")
    model = create_model("mask_rcnn", backbone="lenet5", classes=5, **TWO_STAGE_SMALL)
    images, _ = _batch(2)
    path = str(tmp_path / "sm")
    write_saved_model(model, path, task.serving_outputs)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    expected = task.serving_outputs(model, tf.constant(images))
    assert set(served) == OD_API_KEYS | {"detection_masks"}
    assert served["detection_masks"].shape == (2, 100, 28, 28)
    for key in expected:
        np.testing.assert_allclose(served[key].numpy(), keras.ops.convert_to_numpy(expected[key]), atol=1e-4)
    reloaded_path = str(tmp_path / "mask_rcnn.keras")
    model.save(reloaded_path)
    reloaded = keras.saving.load_model(reloaded_path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(images)["masks"]),
                               keras.ops.convert_to_numpy(model(images)["masks"]), atol=1e-5)


@pytest.mark.parametrize("name,levels", [("ssd", (8, 16)), ("faster_rcnn", None)])
def test_backbone_stops_at_the_deepest_level_the_detector_uses(name, levels):
    """MobileNet v2 taps strides 2-32; anchors at strides 8 and 16 (one level at 8 for the RPN) must not carry the
    stride-32 stages: every backbone weight gets a gradient."""
    kwargs = {"anchor_levels": levels, **SMALL} if levels else {"input_shape": SHAPE}
    model = create_model(name, backbone="mobilenetv2", classes=5, backbone_kwargs={"alpha": 0.35}, **kwargs)
    backbone = model.get_layer("backbone")
    deepest = max(int(layer.name[5]) for layer in backbone.layers if layer.name.startswith("stage"))
    assert deepest == (5 if levels else 3)  # stage 5 ends stride 16, stage 3 stride 8
    images, _ = _batch()
    with tf.GradientTape() as tape:
        out = model(images, training=True)
        total = sum(tf.reduce_sum(tf.cast(v, tf.float32)) for v in tf.nest.flatten(out) if v.dtype.is_floating)
    grads = tape.gradient(total, backbone.trainable_variables)
    assert [v.path for v, g in zip(backbone.trainable_variables, grads) if g is None] == []

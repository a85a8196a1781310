"""Box- and mask-aware augmentation of the dense tasks: targets move with the pixels."""

import numpy as np
import pytest
import tensorflow as tf

from kerazoo.datasets import scenes
from kerazoo.training import load_config
from kerazoo.vision.augment import dense_augmenter
from kerazoo.vision.tasks import SegmentationTask

GEOMETRIC = ["crop", "scale", "flip"]


def _augmented(task, names, count=16, seed=0):
    ds = scenes.load_scenes("train", task, batch_size=count, count=count, shuffle=False)
    images, targets = next(iter(ds))
    return (images, targets), dense_augmenter(names, task, seed=seed)(images, targets)


def test_localization_box_still_encloses_the_object():
    (images, _), (moved, targets) = _augmented("localization", GEOMETRIC)
    assert not np.allclose(images, moved)
    for image, box in zip(moved.numpy()[..., 0], targets["box"].numpy()):
        ys, xs = np.nonzero(image > 8)  # the item's pixels (bilinear resampling blurs its edge by a pixel)
        np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=2.0)


def test_segmentation_mask_moves_with_the_pixels():
    (_, masks), (moved, moved_masks) = _augmented("segmentation", GEOMETRIC)
    assert moved_masks.dtype == masks.dtype and moved_masks.shape == masks.shape
    assert set(np.unique(moved_masks)) <= set(np.unique(masks))  # nearest neighbour: no new labels
    agree = (moved.numpy()[..., 0] > 8) == (moved_masks.numpy() > 0)
    assert agree.mean() > 0.97


def test_flip_mirrors_boxes_and_keeps_padding():
    (_, targets), (_, flipped) = _augmented("detection", ["flip"])
    boxes, moved = targets["boxes"].numpy(), flipped["boxes"].numpy()
    np.testing.assert_array_equal(flipped["classes"], targets["classes"])
    mirrored = np.stack([96 - boxes[..., 2], boxes[..., 1], 96 - boxes[..., 0], boxes[..., 3]], -1)
    real = targets["classes"].numpy() >= 0
    same = np.all(np.isclose(moved, boxes, atol=1e-3), -1)
    flip = np.all(np.isclose(moved, mirrored, atol=1e-3), -1)
    assert np.all(same | flip | ~real)
    assert (same & real).any() and (flip & ~same & real).any()  # each scene is flipped or not, both happen
    np.testing.assert_array_equal(moved[~real], -1)


def test_boxes_that_leave_the_image_become_padding():
    # A 4x4 item in the corner of each of 32 scenes; zooming in pushes it out of some of them.
    images = np.zeros((32, 96, 96, 1), np.float32)
    images[:, :4, :4] = 200
    targets = {"boxes": tf.constant([[[0, 0, 4, 4], [-1, -1, -1, -1]]] * 32, tf.float32),
               "classes": tf.constant([[3, -1]] * 32, tf.int32)}
    moved, out = dense_augmenter(["scale"], "detection", seed=1)(tf.constant(images), targets)
    classes, boxes = out["classes"].numpy(), out["boxes"].numpy()
    gone = classes[:, 0] < 0
    assert gone.any() and (~gone).any()
    np.testing.assert_array_equal(boxes[gone, 0], -1)
    assert np.all(moved.numpy()[gone] < 8)  # the item left those images too
    assert np.all(boxes[~gone, 0] >= 0) and np.all(classes[~gone, 0] == 3)


def test_instance_masks_stay_inside_their_boxes():
    (_, _), (_, out) = _augmented("instance", GEOMETRIC)
    boxes, classes, masks = out["boxes"].numpy(), out["classes"].numpy(), out["masks"].numpy()
    assert masks.dtype == bool
    for b, m in zip(boxes[classes >= 0], masks[classes >= 0]):
        ys, xs = np.nonzero(m)
        if len(xs):  # an occluded item can keep a box with few visible pixels
            assert xs.min() >= b[0] - 1.5 and xs.max() + 1 <= b[2] + 1.5
            assert ys.min() >= b[1] - 1.5 and ys.max() + 1 <= b[3] + 1.5
    assert not masks[classes < 0].any()


def test_an_augmentation_that_cannot_move_targets_is_a_clear_error():
    with pytest.raises(ValueError, match="detection task.*'erase' is not one of crop, scale, flip, color"):
        dense_augmenter(["flip", "erase"], "detection")
    with pytest.raises(ValueError, match="Did you mean: flip"):
        dense_augmenter(["flp"], "segmentation")
    assert dense_augmenter([], "segmentation") is None


def test_only_training_batches_are_augmented():
    config = load_config(overrides=["model.name=unet", "data.dataset=fashion_mnist_scenes", "data.batch_size=8",
                                    "data.limit=40", "data.augment=[crop,flip]", "data.train_split=train[:55000]",
                                    "data.val_split=train[55000:]"])
    task = SegmentationTask()
    train, val = task.pipelines(config, replicas=1)
    plain = task._load(config, config.data.val_split, limit=8, shuffle=False)
    np.testing.assert_array_equal(next(iter(val))[0], next(iter(plain))[0])
    unshuffled = task._load(config, config.data.train_split, limit=40, shuffle=False, augment=config.data.augment)
    baseline = task._load(config, config.data.train_split, limit=40, shuffle=False)
    assert not np.allclose(next(iter(unshuffled))[0], next(iter(baseline))[0])

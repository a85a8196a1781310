"""Box- and mask-aware augmentation of dense batches, with Keras' image preprocessing layers.

    augment = dense_augmenter(["crop", "scale", "flip"], "detection", seed=0)
    ds = ds.map(augment)          # (images, targets) batches of ``kerazoo.vision.data.load_dense``

Keras' layers (``RandomTranslation``, ``RandomZoom``, ``RandomFlip``...) move boxes (``bounding_box_format="xyxy"``)
and masks (nearest neighbour) with the pixels, clip boxes to the image and give those that leave it label -1: this
module only maps each task's targets to and from their ``{"images", "bounding_boxes", "segmentation_masks"}`` dict.
A name means what it means for classification (``kerazoo.datasets.augment``), done by a layer that moves the targets:
- ``crop``: shift by up to 1/8 of each side (what padding by H/8 and cropping back does), new pixels 0;
- ``scale``: zoom in or out by up to 20 %, new pixels 0;
- ``flip``: horizontal flip with probability 1/2;
- ``color``: brightness and contrast by up to 20 % (pixels only).
Validation and test batches are never augmented.
"""

from __future__ import annotations

import keras

from kerazoo.datasets.augment import check_names

__all__ = ["DENSE_AUGMENTATIONS", "dense_augmenter"]

DENSE_AUGMENTATIONS = ("crop", "scale", "flip", "color")
"""The names dense tasks take in ``data.augment``, applied in this order."""

_VALUE_RANGE = (0, 255)  # load_dense yields raw pixels


def _layers(name: str, seed: int) -> list:
    common = {"bounding_box_format": "xyxy", "seed": seed}
    if name == "crop":
        return [keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", **common)]
    if name == "scale":
        return [keras.layers.RandomZoom(0.2, fill_mode="constant", **common)]
    if name == "flip":
        return [keras.layers.RandomFlip("horizontal", **common)]
    return [keras.layers.RandomBrightness(0.2, value_range=_VALUE_RANGE, **common),
            keras.layers.RandomContrast(0.2, value_range=_VALUE_RANGE, **common)]


def dense_augmenter(augment, task: str, *, seed: int = 0):
    """A ``(images, targets) → (images, targets)`` batch map applying ``augment`` to a dense task's batches
    (``task``: ``localization``, ``segmentation``, ``detection`` or ``instance``, the targets of ``load_dense``),
    or None when ``augment`` is empty."""
    import tensorflow as tf  # runs inside tf.data, whatever the Keras backend

    names = check_names(augment, DENSE_AUGMENTATIONS,
                        f" for the {task} task (these names move boxes and masks with the pixels)")
    if not names:
        return None
    layers = [layer for i, name in enumerate(n for n in DENSE_AUGMENTATIONS if n in names)
              for layer in _layers(name, seed + i)]

    def apply(images, targets):
        data = {"images": images}
        if task == "segmentation":
            data["segmentation_masks"] = tf.cast(targets[..., None], "float32")
        elif task == "localization":
            data["bounding_boxes"] = {"boxes": targets["box"][:, None], "labels": targets["class"][:, None]}
        else:
            data["bounding_boxes"] = {"boxes": targets["boxes"], "labels": targets["classes"]}
            if task == "instance":  # [B, M, H, W] → channels [B, H, W, M], moved like one multi-channel mask
                data["segmentation_masks"] = tf.transpose(tf.cast(targets["masks"], "float32"), [0, 2, 3, 1])
        for layer in layers:
            data = layer(data, training=True)
        images = data["images"]
        if task == "segmentation":
            return images, tf.cast(tf.round(data["segmentation_masks"][..., 0]), targets.dtype)
        boxes = data["bounding_boxes"]["boxes"]
        if task == "localization":  # the class stays: a clipped box still shows (part of) the object
            return images, {"class": targets["class"], "box": boxes[:, 0]}
        labels = tf.cast(data["bounding_boxes"]["labels"], targets["classes"].dtype)
        kept = labels >= 0  # boxes that left the image are padding now, as load_dense pads: -1
        out = {"boxes": tf.where(kept[..., None], boxes, -tf.ones_like(boxes)), "classes": tf.where(kept, labels, -1)}
        if task == "instance":
            masks = tf.transpose(data["segmentation_masks"], [0, 3, 1, 2]) > 0.5
            out["masks"] = tf.logical_and(masks, kept[..., None, None])
        return images, out

    return apply

"""Dense-task data: tfds benchmarks mapped to the scenes' format (mocked: nothing downloads)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kerazoo.vision.data import dense_info, load_dense


def _examples(features):
    def as_dataset_fn(builder, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices(features)

    return as_dataset_fn


def test_voc_boxes_become_absolute_xyxy(tmp_path):
    # Two images of 40x20 pixels, each with 2 boxes in tfds' normalized [ymin, xmin, ymax, xmax].
    image = np.zeros((2, 40, 20, 3), np.uint8)
    bbox = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]]] * 2, np.float32)
    label = np.array([[3, 7], [1, 2]], np.int64)
    with tfds.testing.mock_data(as_dataset_fn=_examples({"image": image, "objects": {"bbox": bbox, "label": label}})):
        images, targets = next(iter(load_dense("voc/2012", "validation", "detection", batch_size=2, image_size=50,
                                               resize="stretch", max_objects=3, data_dir=str(tmp_path))))
    assert images.shape == (2, 50, 50, 3)
    np.testing.assert_allclose(targets["boxes"][0].numpy(), [[10, 5, 30, 25], [0, 0, 50, 50], [-1, -1, -1, -1]],
                               atol=1e-4)
    np.testing.assert_array_equal(targets["classes"].numpy(), [[3, 7, -1], [1, 2, -1]])


def test_bad_boxes_are_a_clear_error(tmp_path):
    image = np.zeros((1, 8, 8, 3), np.uint8)
    bbox = np.array([[[0.1, 0.6, 0.5, 0.2]]], np.float32)  # xmax < xmin
    with tfds.testing.mock_data(as_dataset_fn=_examples({"image": image, "objects": {
            "bbox": bbox, "label": np.zeros((1, 1), np.int64)}})):
        ds = load_dense("coco/2017", "train", "detection", batch_size=1, image_size=8, data_dir=str(tmp_path))
        with pytest.raises(tf.errors.InvalidArgumentError, match="x1 <= x2"):
            next(iter(ds))


def test_segmentation_masks_resize_nearest(tmp_path):
    annotation = np.zeros((1, 4, 4, 3), np.uint8)
    annotation[0, :2, :2] = 5
    with tfds.testing.mock_data(as_dataset_fn=_examples({"image": np.zeros((1, 4, 4, 3), np.uint8),
                                                          "annotation": annotation})):
        _, masks = next(iter(load_dense("scene_parse150", "train", "segmentation", batch_size=1, image_size=8,
                                        data_dir=str(tmp_path))))
    expected = np.zeros((8, 8), np.int32)
    expected[:4, :4] = 5
    np.testing.assert_array_equal(masks[0].numpy(), expected)


def test_mock_data_info_and_unknown_names(tmp_path):
    with tfds.testing.mock_data(num_examples=2):
        info = dense_info("voc/2012", data_dir=str(tmp_path))
    assert info.num_classes == 20 and info.class_names[0] == "aeroplane"
    with pytest.raises(ValueError, match="Did you mean: voc/2012"):
        load_dense("voc/2011", "train", "detection")
    with pytest.raises(ValueError, match="no 'segmentation' labels"):
        load_dense("coco/2017", "train", "segmentation")
    with pytest.raises(ValueError, match="only the generated 'fashion_mnist_scenes' can draw new examples"):
        load_dense("voc/2012", "train", "detection", stream=True, data_dir=str(tmp_path))

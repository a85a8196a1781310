"""The vision Tasks: data mapping, building through the registry, evaluation figures and serving outputs."""

import keras
import numpy as np
import pytest

from kerazoo.training import load_config
from kerazoo.training.tasks import get_task


def _config(idx_data_dir, model, **kwargs):
    return load_config(overrides=[
        f"model.name={model}", "model.kwargs.backbone=lenet5", "data.dataset=fashion_mnist_scenes",
        f"data.data_dir={idx_data_dir}", "data.train_split=train[:80]", "data.val_split=train[80:]",
        "data.batch_size=4", "data.limit=8", *[f"{k}={v}" for k, v in kwargs.items()]])


def test_localization_task_end_to_end_pieces(idx_data_dir):
    task = get_task("localization")
    config = _config(idx_data_dir, "localizer")
    train, val = task.pipelines(config, 1)
    images, targets = next(iter(train))
    assert images.shape == (4, 96, 96, 1) and targets["class"].shape == (4,)
    box = targets["box"].numpy()
    assert (box >= 0).all() and (box <= 1).all() and (box[:, 2:] > box[:, :2]).all()  # fractions of the image
    model = task.build(config, task.dataset_info(config))
    figures = task.evaluate(model, config, limit=4)
    assert figures["examples"] == 4 and 0 <= figures["mean_iou"] <= 1 and 0 <= figures["accuracy"] <= 1
    out = task.serving_outputs(model, images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["boxes"]),
                               keras.ops.convert_to_numpy(model(images)["box"]) * 96, rtol=1e-5)
    picture = task.draw(images[0].numpy(), task.predict_image(model, images[0].numpy()), task.dataset_info(config))
    assert picture.shape == (96, 96, 3) and picture.dtype == np.uint8


def test_validation_scores_a_fifth_of_an_epoch(idx_data_dir):
    task = get_task("segmentation")

    def val_scenes(**kwargs):
        _, val = task.pipelines(_config(idx_data_dir, "fcn8s", **kwargs), 1)
        return sum(len(images) for images, _ in val)

    assert val_scenes(**{"data.limit": 40}) == 8
    # a pool of 200 scenes drawn 5 (or 20) batches of 4 an epoch: validation follows the epoch, not the pool
    assert val_scenes(**{"data.limit": 200, "steps_per_epoch": 5}) == 4
    assert val_scenes(**{"data.limit": 200, "steps_per_epoch": 20}) == 16


def test_stream_trains_on_new_scenes_and_checks_its_settings(idx_data_dir):
    task = get_task("segmentation")
    config = _config(idx_data_dir, "fcn8s", **{"data.limit": "null", "data.stream": "true", "steps_per_epoch": 5})
    train, val = task.pipelines(config, 1)
    assert sum(len(images) for images, _ in val) == 4  # a fifth of an epoch of 5 batches of 4
    images = [image.numpy().tobytes() for batch, _ in train.take(70) for image in batch if image.numpy().any()]
    assert len(set(images)) == len(images) > 200  # 280 scenes, past the first chunk of 256, none twice (empty aside)
    for model in ("ssd", "mask_rcnn"):  # the detection Task's own loader passes the stream on
        train, _ = get_task("detection").pipelines(_config(idx_data_dir, model, **{
            "data.limit": "null", "data.stream": "true", "steps_per_epoch": 5}), 1)
        assert next(iter(train))[0].shape == (4, 96, 96, 1)
    with pytest.raises(ValueError, match="set 'steps_per_epoch'"):
        _config(idx_data_dir, "fcn8s", **{"data.limit": "null", "data.stream": "true"})
    with pytest.raises(ValueError, match="leave 'data.limit' null"):
        _config(idx_data_dir, "fcn8s", **{"data.stream": "true", "steps_per_epoch": 5})
    with pytest.raises(ValueError, match="'fashion_mnist' is a fixed set"):
        load_config(overrides=["data.dataset=fashion_mnist", "data.stream=true", "steps_per_epoch=5"])


def test_stream_starts_at_data_stream_start(idx_data_dir):
    from kerazoo.datasets.scenes import stream_scenes

    config = _config(idx_data_dir, "fcn8s", **{"data.limit": "null", "data.stream": "true", "steps_per_epoch": 5,
                                                "data.stream_start": 300, "data.augment": "[]"})
    train, _ = get_task("segmentation").pipelines(config, 1)
    images, _ = next(iter(train))
    expected = next(stream_scenes("train[:80]", start=300, data_dir=idx_data_dir)).images[:4]  # the config's split
    np.testing.assert_array_equal(images.numpy(), expected.astype(np.float32))
    for kwargs in ({"data.stream_start": 10}, {"data.limit": "null", "data.stream": "true", "steps_per_epoch": 5,
                                               "data.stream_start": -1}):
        with pytest.raises(ValueError, match="'data.stream_start' must be >= 0 or null, and set only with"):
            _config(idx_data_dir, "fcn8s", **kwargs)


def test_segmentation_task_counts_the_background_and_checks_the_loss(idx_data_dir):
    task = get_task("segmentation")
    config = _config(idx_data_dir, "fcn8s")
    info = task.dataset_info(config)
    assert task.classes(info) == 11
    model = task.build(config, info)
    assert model.output_shape == (None, 96, 96, 11)
    figures = task.evaluate(model, config, limit=4)
    assert 0 <= figures["mean_iou"] <= 1 and set(figures["class_iou"]) == {"background", *info.class_names}
    with pytest.raises(ValueError, match="model.loss for segmentation"):
        task.loss(_config(idx_data_dir, "fcn8s", **{"model.loss": "hinge"}))


def test_pretrained_backbone_takes_raw_pixels_into_its_own_preprocessing(idx_data_dir, tmp_path, monkeypatch):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))
    reference = keras.applications.MobileNet(weights=None, input_shape=(96, 96, 3), alpha=0.25, include_top=False)
    path = str(tmp_path / "mobilenet_2_5_96_tf_no_top.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    task = get_task("localization")
    config = _config(idx_data_dir, "localizer", **{"model.kwargs.backbone": "mobilenet_025",
                                                   "model.backbone_weights": path})
    model = task.build(config, task.dataset_info(config))
    names = [layer.name for layer in model.layers]
    assert "normalize" not in names and "to_rgb" in names
    backbone = model.get_layer("backbone")
    assert backbone.get_layer("preprocess").mode == "tf"
    np.testing.assert_array_equal(backbone.get_layer("stem_conv").get_weights()[0],
                                  reference.get_layer("conv1").get_weights()[0])
    both = _config(idx_data_dir, "localizer", **{"model.backbone_from": str(tmp_path), "model.backbone_weights": path})
    with pytest.raises(ValueError, match="backbone_from and model.backbone_weights exclude each other"):
        task.build(both, task.dataset_info(both))

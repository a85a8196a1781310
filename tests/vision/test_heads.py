"""Every dense head builds on a plain, a residual and a MobileNet v2 backbone, trains a step, and exports to a
SavedModel that reloads with equal outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo.applications import create_model, list_models
from kerazoo.export.exporter import write_saved_model
from kerazoo.training.tasks import get_task
from kerazoo.vision import backbone as bb

BACKBONES = [("lenet5", {}), ("resnet20", {}), ("mobilenetv2", {"alpha": 0.35})]
HEADS = ["fcn8s", "unet", "segnet", "localizer"]
SHAPE = (32, 32, 1)


def _targets(head, n):
    rng = np.random.default_rng(0)
    if head == "localizer":
        return {"class": rng.integers(0, 10, n), "box": np.tile([0.1, 0.2, 0.6, 0.7], (n, 1)).astype("float32")}
    return rng.integers(0, 11, (n, *SHAPE[:2])).astype("int32")


def _compile(model, head):
    if head == "localizer":
        model.compile("adam", loss={"class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                    "box": keras.losses.Huber(0.1)}, jit_compile=False)
    else:
        from kerazoo.losses import CrossEntropyDice

        model.compile("adam", loss=CrossEntropyDice(), jit_compile=False)


def test_heads_are_registered_with_their_task():
    assert set(list_models(task="segmentation")) >= {"fcn8s", "unet", "segnet"}
    assert list_models(task="localization") == ["localizer"]
    assert get_task("segmentation").name == "segmentation"


# Every head on every backbone; the default tier runs each head on the plain backbone.
FAST = {("lenet5", h) for h in HEADS}  # the residual and MobileNet v2 rows are slow-tier (XLA-free, still ~10 s each)
MATRIX = [
    pytest.param(head, backbone, kwargs, id=f"{backbone}-{head}",
                 marks=() if (backbone, head) in FAST else pytest.mark.slow)
    for backbone, kwargs in BACKBONES for head in HEADS
]


@pytest.mark.parametrize("head,backbone,kwargs", MATRIX)
def test_head_builds_trains_and_names_layers(head, backbone, kwargs):
    classes = 10 if head == "localizer" else 11
    model = create_model(head, backbone=backbone, classes=classes, input_shape=SHAPE, backbone_kwargs=kwargs)
    images = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    out = model(images)
    if head == "localizer":
        assert out["class"].shape == (2, 10) and out["box"].shape == (2, 4)
    else:
        assert out.shape == (2, *SHAPE[:2], 11)
    auto = [layer.name for layer in model.layers if layer.name.startswith(("conv2d", "dense", "add", "concatenate"))]
    assert auto == []
    _compile(model, head)
    before = [w.copy() for w in model.get_layer("backbone").get_weights()[:1]]
    loss = model.train_on_batch(images, _targets(head, 2))
    assert np.all(np.isfinite(loss))
    assert not np.allclose(before[0], model.get_layer("backbone").get_weights()[0])


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS)
def test_saved_model_reloads_with_equal_outputs(head, tmp_path):
    task = get_task("localization" if head == "localizer" else "segmentation")
    model = create_model(head, backbone="resnet20", classes=10 if head == "localizer" else 11, input_shape=SHAPE)
    images = np.random.default_rng(2).uniform(0, 255, (3, *SHAPE)).astype("float32")
    path = str(tmp_path / "sm")
    write_saved_model(model, path, task.serving_outputs)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    expected = task.serving_outputs(model, tf.constant(images))
    assert set(served) == set(expected)
    for key in expected:
        np.testing.assert_allclose(served[key].numpy(), keras.ops.convert_to_numpy(expected[key]), atol=1e-4)


def test_unet_decoder_width_follows_the_backbone_or_doubles_from_decoder_filters():
    def widths(**kwargs):
        model = create_model("unet", backbone="mobilenetv2", input_shape=(64, 64, 1), **kwargs)
        return [model.get_layer(f"decoder{level}_b_conv").filters for level in (0, 1, 2)]

    assert widths() == [24, 32, 96]  # MobileNet v2's widths at strides 4, 8, 16
    assert widths(decoder_filters=64) == [64, 128, 256]  # the paper's doubling
    assert widths(decoder_filters=128) == [128, 256, 256]  # capped at 256


def test_backbone_errors_are_clear():
    with pytest.raises(ValueError, match="needs 2 feature levels.*alexnet"):
        create_model("unet", backbone="alexnet", input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match="smaller than the largest stride"):
        create_model("fcn8s", backbone="resnet20", input_shape=(3, 3, 1))
    with pytest.raises(ValueError, match="expected a classification model"):
        create_model("unet", backbone="segnet")


def test_backbone_weights_transfer_and_freeze():
    classifier = create_model("resnet20", input_shape=SHAPE, classes=10)
    head = create_model("fcn8s", backbone="resnet20", input_shape=SHAPE)
    assert bb.load_backbone_weights(head, classifier) > 10
    np.testing.assert_array_equal(head.get_layer("backbone").get_layer("stem_conv").get_weights()[0],
                                  classifier.get_layer("stem_conv").get_weights()[0])
    bb.set_backbone_trainable(head, False)
    assert all(not v.trainable for v in head.get_layer("backbone").weights)
    with pytest.raises(ValueError, match="No backbone layer"):
        bb.load_backbone_weights(head, create_model("lenet5"))


def test_classifier_pixel_scaling_is_the_classifiers_first_layer():
    images = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1 / (255 * 0.35), offset=-0.8, name="normalize")(images)
    classifier = keras.Model(images, keras.layers.Dense(3)(keras.layers.Flatten()(x)), name="tiny")
    assert bb.classifier_pixel_scaling(classifier, channels=1) == (1 / (255 * 0.35), -0.8)
    with pytest.raises(ValueError, match="trained on 1-channel images and this model takes 3-channel"):
        bb.classifier_pixel_scaling(classifier, channels=3)
    with pytest.raises(ValueError, match="has no `normalize` layer"):
        bb.classifier_pixel_scaling(create_model("lenet5"))


def test_fine_tune_callback_unfreezes_after_n_epochs():
    from kerazoo.vision.tasks import FineTuneBackbone, ScaledSchedule

    model = create_model("fcn8s", backbone="lenet5", input_shape=SHAPE)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5))
    optimizer.build(model.trainable_variables)  # slots for the backbone too, as DenseTask.compile does
    bb.set_backbone_trainable(model, False)
    model.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    images = np.random.default_rng(3).uniform(0, 255, (4, *SHAPE)).astype("float32")
    start = model.get_layer("backbone").get_weights()[0].copy()
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.get_layer("backbone").get_weights()[0].copy())

    model.fit(images, _targets("fcn8s", 4), epochs=2, verbose=0, callbacks=[FineTuneBackbone(1, 0.1), Probe()])
    np.testing.assert_array_equal(seen[0], start)  # frozen during epoch 1
    assert not np.allclose(seen[1], start)  # trained during epoch 2
    assert isinstance(model.optimizer._learning_rate, ScaledSchedule)

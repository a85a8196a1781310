"""keras.applications' idioms, as its documentation writes them, run against kerazoo's builders.

    model = keras.applications.ResNet50(include_top=True, weights=None, classes=10, input_shape=(32, 32, 3))
    features = keras.applications.ResNet50(include_top=False, weights=None, pooling="avg", input_tensor=inputs)

The same call on kerazoo's builder (or ``create_model`` with Keras' class name) gives a model with the same weights,
in the same order, and the same outputs once those weights are copied over.
"""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, densenet, mobilenet_v2, resnet, vgg

# (keras.applications builder, kerazoo builder); the deep or wide ones run in the slow tier.
PAIRS = [
    (keras.applications.ResNet50, resnet.ResNet50),
    (keras.applications.MobileNetV2, mobilenet_v2.MobileNetV2),
    pytest.param(keras.applications.VGG16, vgg.VGG16, marks=pytest.mark.slow),
    pytest.param(keras.applications.DenseNet121, densenet.DenseNet121, marks=pytest.mark.slow),
]
SHAPE = (32, 32, 3)


def _images(count=2):
    return np.random.default_rng(0).uniform(0, 255, (count, *SHAPE)).astype("float32")


def _outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("keras_builder, kerazoo_builder", PAIRS)
def test_include_top_with_classes_matches_keras(keras_builder, kerazoo_builder):
    reference = keras_builder(include_top=True, weights=None, classes=10, input_shape=SHAPE)
    model = kerazoo_builder(include_top=True, weights=None, classes=10, input_shape=SHAPE)
    assert model.output_shape == reference.output_shape == (None, 10)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in reference.get_weights()]
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(_outputs(model, _images()), _outputs(reference, _images()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["avg", pytest.param("max", marks=pytest.mark.slow),
                                     pytest.param(None, marks=pytest.mark.slow)])
def test_feature_extraction_with_pooling_and_input_tensor(pooling):
    inputs = keras.Input(shape=SHAPE)
    reference = keras.applications.ResNet50(include_top=False, weights=None, pooling=pooling, input_tensor=inputs)
    model = resnet.ResNet50(include_top=False, weights=None, pooling=pooling, input_tensor=keras.Input(shape=SHAPE))
    assert model.output_shape == reference.output_shape
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(_outputs(model, _images(1)), _outputs(reference, _images(1)), rtol=1e-5, atol=1e-5)


def test_keras_class_names_work_in_create_model():
    model = create_model("MobileNetV2", classes=5, input_shape=SHAPE, classifier_activation=None)
    reference = keras.applications.MobileNetV2(weights=None, classes=5, input_shape=SHAPE, classifier_activation=None)
    assert model.count_params() == reference.count_params()
    assert model.layers[-1].get_config()["activation"] == "linear"  # logits, as keras' classifier_activation=None


# The integrator extends this when the per-family preprocessing helpers (the pretrained-weights work) are merged:
# kerazoo.applications.resnet.preprocess_input / decode_predictions must do what keras.applications.resnet's do.
def test_preprocess_input_and_decode_predictions_match_keras():
    if not hasattr(resnet, "preprocess_input"):
        pytest.skip("kerazoo.applications.resnet.preprocess_input comes with the pretrained-weights work")
    x = _images()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(resnet.preprocess_input(x.copy())),
                               keras.ops.convert_to_numpy(keras.applications.resnet.preprocess_input(x.copy())),
                               rtol=1e-6)
    model = resnet.ResNet50(include_top=True, weights=None, input_shape=SHAPE)
    predictions = _outputs(model, resnet.preprocess_input(x.copy()))
    assert predictions.shape == (2, 1000)
    if hasattr(resnet, "decode_predictions"):
        top = resnet.decode_predictions(predictions, top=3)
        assert len(top) == 2 and len(top[0]) == 3

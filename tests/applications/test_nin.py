"""Network in Network: the released configurations' counts, mlpconv structure and the global-average-pooling head."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, nin


def conv(k, cin, cout):
    return k * k * cin * cout + cout


# The authors' Caffe releases, layer by layer (conv, cccp = 1x1 "cascaded cross channel parametric pooling").
CIFAR10_PARAMS = (
    conv(5, 3, 192) + conv(1, 192, 160) + conv(1, 160, 96)
    + conv(5, 96, 192) + conv(1, 192, 192) + conv(1, 192, 192)
    + conv(3, 192, 192) + conv(1, 192, 192) + conv(1, 192, 10)
)
IMAGENET_PARAMS = (
    conv(11, 3, 96) + conv(1, 96, 96) + conv(1, 96, 96)
    + conv(5, 96, 256) + conv(1, 256, 256) + conv(1, 256, 256)
    + conv(3, 256, 384) + conv(1, 384, 384) + conv(1, 384, 384)
    + conv(3, 384, 1024) + conv(1, 1024, 1024) + conv(1, 1024, 1000)
)


def test_cifar_network_count_and_sizes():
    model = nin.NiN_CIFAR()
    assert model.count_params() == CIFAR10_PARAMS == 966_986
    sizes = [model.get_layer(f"stage{s}_relu1").output.shape[1:] for s in (1, 2, 3)]
    assert sizes == [(32, 32, 192), (16, 16, 192), (8, 8, 192)]  # Caffe's ceil-mode pools: 32 → 16 → 8
    assert isinstance(model.get_layer("stage1_pool"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("stage2_pool"), keras.layers.AveragePooling2D)
    assert [model.get_layer(f"stage{s}_dropout").rate for s in (1, 2)] == [0.5, 0.5]


def test_imagenet_network_count():
    model = nin.NiN()
    assert model.count_params() == IMAGENET_PARAMS == 7_595_176
    assert model.get_layer("head_conv").output.shape[1:] == (5, 5, 1000)


@pytest.mark.parametrize("name", ["nin", "nin_cifar"])
def test_no_dense_layer_and_prediction_is_the_mean_class_map(name):
    side = 67 if name == "nin" else 32
    model = create_model(name, input_shape=(side, side, 3), classes=6, classifier_activation=None)
    assert model.output_shape == (None, 6)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    class_maps = keras.Model(model.input, model.get_layer("head_relu").output)
    x = np.random.default_rng(0).uniform(0, 1, size=(2, side, side, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(class_maps(x)).mean(axis=(1, 2)),
        rtol=1e-5, atol=1e-6,
    )
    # Every mlpconv layer is one spatial convolution followed by 1x1 convolutions.
    kernels = [layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert kernels.count((1, 1)) == len(kernels) - (4 if name == "nin" else 3)


def test_without_top():
    assert nin.NiN_CIFAR(include_top=False).output_shape == (None, 8, 8, 192)
    assert nin.NiN(include_top=False, pooling="avg", input_shape=(96, 96, 1)).output_shape == (None, 1024)
    with pytest.raises(ValueError, match="Received: dropout=2"):
        nin.NiN_CIFAR(dropout=2)

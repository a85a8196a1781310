"""Neural style transfer on scikit-image's bundled photos with a small zoo model as the loss network."""

import keras
import numpy as np
import pytest
from PIL import Image
from skimage import data

from kerazoo.losses.style import gram_matrix
from kerazoo.visualize import FIGURE_PIXELS, style


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(0)
    return style.loss_network("lenet5", input_shape=(None, None, 3))


def test_loss_network_layers_and_the_weights_message(monkeypatch, tmp_path):
    vgg = style.loss_network("vgg19", input_shape=(32, 32, 3))
    assert vgg.content_layer == "stage4_block2_relu"  # Gatys et al.: conv4_2, style conv1_1 ... conv5_1
    assert vgg.style_layers == tuple(f"stage{s}_block1_relu" for s in range(1, 6)) and vgg.preprocess == "unit"
    # ImageNet weights are keras.applications' VGG19 file: offline (no file in the cache), the error says where to put it
    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(FileNotFoundError, match="put the file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        style.loss_network("vgg19", weights="imagenet")


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gatys_lowers_the_style_loss_by_90_percent(network, optimizer, tmp_path):
    # Measured: 0.569 → 0.0077 (L-BFGS, 20 iterations) and → 0.0093 (Adam, 40 steps), a 98 % drop.
    steps = {"lbfgs": 20, "adam": 40}[optimizer]
    result = style.gatys(data.astronaut(), data.coffee(), network=network, size=32, steps=steps,
                         optimizer=optimizer, out=str(tmp_path / "gatys.png"), comparison=str(tmp_path / "figure.png"))
    assert result.style_loss_after <= 0.1 * result.style_loss_before
    assert result.image.shape == (32, 32, 3)
    written = np.asarray(Image.open(tmp_path / "gatys.png"))  # the stylized image itself, not a figure
    np.testing.assert_array_equal(written, np.clip(np.rint(result.image), 0, 255).astype(np.uint8))
    assert Image.open(tmp_path / "figure.png").size == FIGURE_PIXELS


def test_blended_targets_mix_the_gram_matrices(network):
    content, first, second = (style._rgb(photo(), shape=(32, 32)) for photo in (data.astronaut, data.coffee, data.chelsea))
    blend = style.style_targets(network, content, [first, second], [3, 1])
    for i, (a, b) in enumerate(zip(*(network(keras.ops.convert_to_tensor(s[None]))[1] for s in (first, second)))):
        expected = 0.75 * keras.ops.convert_to_numpy(gram_matrix(a))[0] + 0.25 * keras.ops.convert_to_numpy(gram_matrix(b))[0]
        np.testing.assert_allclose(keras.ops.convert_to_numpy(blend.grams[i]), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="style_weights"):
        style.style_targets(network, content, [first, second], [1])


@pytest.mark.slow
def test_fast_network_keeps_the_shape_and_its_loss_falls(network, tmp_path):
    transform = style.transform_network(filters=8, residual_blocks=1)
    assert transform(np.zeros((2, 32, 48, 3), "float32")).shape == (2, 32, 48, 3)
    out = str(tmp_path / "fast.keras")
    result = style.train_fast(data.chelsea(), style.demo_photos(), network=network, transform=transform, size=32,
                              steps=30, batch_size=2, learning_rate=1e-2, out=out)
    # Measured: first five steps 15.5, 413, 83, 38, 52; last five 4.1, 3.0, 2.1, 2.7, 1.6.
    assert np.mean(result.losses[-5:]) < 0.6 * np.mean(result.losses[:5])
    reloaded = keras.saving.load_model(out, safe_mode=True)
    photo = style._rgb(data.coffee(), shape=(32, 32))[None]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(photo)),
                               keras.ops.convert_to_numpy(result.model(photo)), rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_a_keras_applications_vgg19_weights_file_loads_in_order_with_caffe_preprocessing(tmp_path):
    """What ``--weights vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` does, with a random file of that format."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg19_notop.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    network = style.loss_network("vgg19", weights=path, input_shape=(32, 32, 3))
    assert network.preprocess == "caffe"
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    expected = keras.Model(reference.inputs, reference.get_layer("block4_conv2").output)(
        keras.applications.vgg19.preprocess_input(pixels.copy()))
    content, _ = network(keras.ops.convert_to_tensor(pixels))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(content), keras.ops.convert_to_numpy(expected),
                               rtol=1e-4, atol=1e-3)  # stage4_block2_relu is relu(block4_conv2): conv has relu


JAX_FAST_STYLE = """
import numpy as np
from skimage import data
from kerazoo.visualize import style
network = style.loss_network("vgg11", input_shape=(None, None, 3))
transform = style.transform_network(filters=8, residual_blocks=1)
result = style.train_fast(data.chelsea(), style.demo_photos(), network=network, transform=transform, size=32,
                          steps=30, batch_size=2, learning_rate=1e-2)
print(np.mean(result.losses[:5]), np.mean(result.losses[-5:]))
"""


@pytest.mark.slow
def test_fast_style_network_trains_under_jax_too():
    """Keras' own train step carries the training, so the JAX backend's gradients work without a switch of ours."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": root}
    result = subprocess.run([sys.executable, "-c", JAX_FAST_STYLE], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    first, last = (float(v) for v in result.stdout.split()[-2:])
    assert last < 0.6 * first  # measured: 75.4 -> 4.6

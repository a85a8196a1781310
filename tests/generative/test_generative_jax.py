"""The generative models, layers and losses are backend-agnostic: under KERAS_BACKEND=jax a PixelCNN given the
TensorFlow build's weights gives the same NLL, samples through its compiled loop and trains; the VAE trains through
its ``compute_loss``; PixelRNN runs. (DCGAN's ``train_step`` is TensorFlow-only by design;
its generator is checked.) One subprocess, since the backend is fixed when Keras is imported."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.losses.generative import pixel_nll

pytest.importorskip("jax")

SCRIPT = """
import sys
import numpy as np
import keras
assert keras.backend.backend() == "jax"
from kerazoo.applications import create_model
from kerazoo.generative import sample_autoregressive
from kerazoo.losses import PixelNLL, pixel_nll

folder = sys.argv[1]
x = np.load(folder + "/images.npy")
reference = create_model("pixelcnn", input_shape=(8, 8, 1), levels=256, filters=4, residual_blocks=1)
reference.load_weights(folder + "/pixelcnn.weights.h5")
np.save(folder + "/nll_jax.npy", keras.ops.convert_to_numpy(pixel_nll(x, reference(x), levels=256)))
assert sample_autoregressive(reference, 2, seed=0).shape == (2, 8, 8, 1)
reference.compile(optimizer="adam", loss=PixelNLL(levels=256))
assert np.isfinite(reference.fit(x, x, epochs=1, verbose=0).history["loss"][0])
vae = create_model("vae", input_shape=(8, 8, 1), latent_dim=2, filters=4, hidden=8, likelihood="logistic")
vae.compile(optimizer="adam")
history = vae.fit(x, epochs=1, verbose=0).history
assert np.isfinite(history["loss"][0]) and {"kl", "reconstruction"} <= set(history), history
assert create_model("pixelrnn", input_shape=(8, 8, 1), units=4, row_lstm_layers=1)(x).shape == (16, 8, 8, 1)
assert np.isfinite(np.mean(vae.importance_log_likelihood(x, 4)))
assert create_model("dcgan", input_shape=(8, 8, 1), latent_dim=4, filters=4).sample(3).shape == (3, 8, 8, 1)
print("ok")
"""


@pytest.mark.slow
def test_models_train_and_sample_on_jax(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "images.npy", x)
    model = create_model("pixelcnn", input_shape=(8, 8, 1), levels=256, filters=4, residual_blocks=1)
    model.save_weights(str(tmp_path / "pixelcnn.weights.h5"))
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    nll_tf = keras.ops.convert_to_numpy(pixel_nll(x, model(x), levels=256))
    np.testing.assert_allclose(np.load(tmp_path / "nll_jax.npy"), nll_tf, rtol=1e-4)

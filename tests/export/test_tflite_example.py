"""The mobile example classifies an image file from the exported .tflite exactly as the Keras model does."""

import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from kerazoo.datasets import load_arrays
from kerazoo.export import export_run, load_predictor

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "classify_tflite.py")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("classify_tflite", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classifies_a_png_like_the_keras_model(example, trained_run, idx_data_dir, tmp_path):
    version = export_run(trained_run, str(tmp_path), "m", formats="tflite,tflite_int8", parity_examples=16,
                         representative_examples=32)
    images, _ = load_arrays("fashion_mnist", "test[:1]", data_dir=idx_data_dir)
    png = tmp_path / "item.png"
    Image.fromarray(images[0, :, :, 0]).save(png)
    keras_probs = load_predictor(trained_run)(images.astype("float32"))
    expected = int(np.argmax(keras_probs[0]))
    top = example.classify(os.path.join(version, "model.tflite"), str(png), top=3)
    assert len(top) == 3 and top[0][0] == ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                                            "sneaker", "bag", "ankle boot"][expected]
    assert sum(p for _, p in top) <= 1.0 + 1e-6
    top_int8 = example.classify(os.path.join(version, "model_int8.tflite"), str(png), top=1)
    assert len(top_int8) == 1 and 0.0 <= top_int8[0][1] <= 1.0


def test_unreadable_image_is_a_clear_error(example, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="cannot read image"):
        example.load_pixels(str(bad), 28, 28, 1)

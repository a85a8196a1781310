import os

import numpy as np
import pytest

from kerazoo.export.runtime import load_predictor
from kerazoo.optimize import quantize
from optimize_helpers import tiny_cnn, tiny_images

INT8_OPS = {"CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"}


def _assert_int8_compute(path):
    """Every conv / fully-connected op takes int8 activations and int8 weights (int32 bias) and outputs int8."""
    ops = quantize.tflite_tensor_types(path)["ops"]
    compute = [op for op in ops if op["op"] in INT8_OPS]
    assert compute, ops
    for op in compute:
        assert op["inputs"][:2] == ["int8", "int8"] and op["outputs"] == ["int8"], op
        assert op["inputs"][2:] in ([], ["int32"]), op
    assert not [op for op in ops if op["op"] in INT8_OPS and "float32" in op["inputs"]]


def test_post_training_modes(tmp_path):
    model = tiny_cnn()
    images, _ = tiny_images(32)
    paths = quantize.write_tflite_files(model, str(tmp_path), quantize.MODES, representative=images)
    assert os.path.exists(tmp_path / "saved_model.pb")
    sizes = {mode: os.path.getsize(path) for mode, path in paths.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"] and sizes["dynamic"] < sizes["float32"]
    _assert_int8_compute(paths["int8"])
    assert load_predictor(paths["int8"]).fmt == "tflite_int8"  # uint8 raw-pixel input, as kerazoo.export writes it
    reference = np.asarray(model(images))
    for mode in ("float32", "float16", "dynamic"):
        assert np.max(np.abs(load_predictor(paths[mode])(images) - reference)) < 0.05 * np.ptp(reference), mode


@pytest.mark.slow
def test_quantization_aware_training_then_int8(tmp_path, tiny_data):
    images, labels, ds = tiny_data
    qat = quantize.quantization_aware(tiny_cnn(), ds, epochs=3, lr=3e-3)
    assert any(type(layer).__name__ == "QuantizeWrapperV2" for layer in qat.layers)
    path = quantize.write_tflite_files(qat, str(tmp_path), ["int8"], representative=images)["int8"]
    _assert_int8_compute(path)
    int8_logits, fake_quant_logits = load_predictor(path)(images), qat.predict(images, verbose=0)
    # the int8 file computes what the fake-quantized model simulated (up to rounding)
    assert np.corrcoef(int8_logits.ravel(), fake_quant_logits.ravel())[0, 1] > 0.95
    assert np.max(np.abs(int8_logits - fake_quant_logits)) <= 0.1 * np.ptp(fake_quant_logits)


def test_bad_mode_names_the_choices():
    with pytest.raises(ValueError, match="int8.*Did you mean int8"):
        quantize.check_mode("int_8")
    with pytest.raises(ValueError, match="representative"):
        quantize.convert_tflite("unused", "unused.tflite", "int8")

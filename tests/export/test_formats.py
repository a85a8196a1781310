"""The export formats are one table (file, writer, parity rule, reader) that export, parity and the runtimes read."""

import pathlib

import numpy as np
import pytest

from kerazoo.export import FORMATS, exporter, formats, parity, runtime


def test_the_table_drives_the_format_names_files_and_readers():
    assert FORMATS == tuple(formats.FORMATS) == ("saved_model", "tflite", "tflite_int8", "onnx")
    assert formats.FORMAT_FILES == {name: spec.file for name, spec in formats.FORMATS.items()}
    assert [name for name, spec in formats.FORMATS.items() if spec.writer is None] == ["saved_model"]  # the source
    assert [name for name, spec in formats.FORMATS.items() if spec.calibrated] == ["tflite_int8"]
    assert formats.reader_for_file("m/1/model_int8.tflite") is runtime.tflite_predictor
    assert formats.reader_for_file("m/1/model.onnx") is runtime.onnx_predictor
    assert formats.reader_for_file("m/1/model.h5") is None
    assert formats.artifact_path("m/1", "saved_model") == "m/1"
    assert formats.artifact_path("m/1", "onnx") == str(pathlib.Path("m/1/model.onnx"))


def test_parity_applies_each_formats_rule():
    reference = np.array([[0.0, 10.0], [10.0, 0.0]], np.float32)
    shifted = reference + 0.5  # same classes, logits 5 % of the range apart
    assert parity(reference, shifted, "tflite_int8")["passed"]  # quantized: top-1 agreement
    assert not parity(reference, shifted, "onnx")["passed"]  # float: relative logit difference
    assert parity(reference, shifted, "onnx")["limit"] == f"relative_logit_diff <= {formats.FLOAT_TOLERANCE}"
    assert not parity(reference, shifted, "tflite_float16")["passed"]  # optimize's other TFLite modes: as float


def test_unknown_format_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"Invalid format: expected one of saved_model, .*Received: format='tfjs'"):
        formats.get_format("tfjs")
    with pytest.raises(ValueError, match=r"Received: formats=\['tfjs'\]"):
        exporter.parse_formats("tfjs")


def test_the_warmup_file_name_is_defined_once_by_the_server():
    from kerazoo.serving.repository import WARMUP_FILE

    package = pathlib.Path(formats.__file__).parents[1]
    defining = [str(p.relative_to(package)) for p in package.rglob("*.py")
                if f'"{WARMUP_FILE}"' in p.read_text(encoding="utf-8")]
    assert defining == ["serving/repository.py"]

import json
import os

import pytest

from kerazoo.cli import main


def test_bad_requests_are_clear_errors(tmp_path, capsys):
    assert main(["optimize", str(tmp_path), "--out", str(tmp_path / "small")]) == 2
    assert "Nothing to do" in capsys.readouterr().err
    assert main(["optimize", str(tmp_path), "--prune", "0.5", "--finetune-epochs", "0", "--out", str(tmp_path)]) == 2
    assert "finetune_epochs" in capsys.readouterr().err
    assert main(["optimize", str(tmp_path), "--structured", "2x4", "--out", str(tmp_path)]) == 2
    assert "M:N" in capsys.readouterr().err
    assert main(["optimize", str(tmp_path), "--lowrank", "1.5", "--out", str(tmp_path)]) == 2
    assert "energy ratio must be in (0, 1]" in capsys.readouterr().err
    assert main(["optimize", str(tmp_path), "--lowrank", "most", "--out", str(tmp_path)]) == 2
    assert "Invalid --lowrank" in capsys.readouterr().err


def test_optimize_lowrank_stage(trained_run, tmp_path, capsys):
    """--lowrank factorizes, fine-tunes and publishes a smaller model whose exports match it."""
    out = tmp_path / "models" / "lenet_lowrank"
    code = main(["optimize", trained_run, "--lowrank", "0.5", "--finetune-epochs", "1", "--limit", "32",
                 "--test-limit", "32", "--out", str(out)])
    assert code == 0
    assert "lowrank" in capsys.readouterr().out
    report = json.loads((out / "1" / "optimize_report.json").read_text())
    stages = {row["stage"]: row for row in report["stages"]}
    assert report["options"]["lowrank"] == 0.5 and report["options"]["lowrank_ranks"]
    assert stages["lowrank"]["tflite_bytes"] < stages["dense"]["tflite_bytes"]
    parity = json.loads((out / "1" / "export_report.json").read_text())["formats"]
    assert parity["tflite"]["passed"] and parity["saved_model"]["passed"]


@pytest.mark.slow
def test_optimize_writes_a_version_and_report(trained_run, tmp_path, capsys):
    out = tmp_path / "models" / "lenet_small"
    code = main(["optimize", trained_run, "--prune", "0.5", "--cluster", "8", "--quantize", "int8",
                 "--finetune-epochs", "1", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pruned" in printed and "clustered" in printed and "ptq_int8" in printed
    version = out / "1"
    for name in ("saved_model.pb", "model.keras", "model.tflite", "model_int8.tflite", "kerazoo.json",
                 "export_report.json", "optimize_report.json"):
        assert os.path.exists(version / name), name
    report = json.loads((version / "optimize_report.json").read_text())
    stages = {row["stage"]: row for row in report["stages"]}
    assert stages["pruned"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert stages["clustered"]["max_unique_weights"] <= 8
    assert stages["clustered"]["sparsity"] >= stages["pruned"]["sparsity"] - 1e-9  # clustering kept the zeros
    assert stages["clustered"]["tflite_gzip_bytes"] < stages["dense"]["tflite_gzip_bytes"]
    assert stages["ptq_int8"]["tflite_bytes"] < 0.4 * stages["dense"]["tflite_bytes"]
    parity = json.loads((version / "export_report.json").read_text())["formats"]
    assert parity["tflite"]["passed"] and parity["saved_model"]["passed"]

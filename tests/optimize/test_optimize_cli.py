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
    assert main(["optimize", str(tmp_path), "--dsd", "1.5", "--out", str(tmp_path)]) == 2
    assert "Received: sparsity=1.5" in capsys.readouterr().err


@pytest.mark.slow  # ~40 s: five measured stages (the DSD phases themselves are tested in test_dsd.py)
def test_optimize_dsd_stage(trained_run, tmp_path, capsys):
    """--dsd reports the run, plain fine-tuning for as many epochs, the sparse phase and the re-dense model."""
    out = tmp_path / "models" / "lenet_dsd"
    code = main(["optimize", trained_run, "--dsd", "0.5", "--finetune-epochs", "1", "--limit", "32",
                 "--test-limit", "32", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "plain" in printed and "dsd_sparse" in printed
    report = json.loads((out / "1" / "optimize_report.json").read_text())
    stages = {row["stage"]: row for row in report["stages"]}
    assert list(stages) == ["dense", "plain", "dsd_sparse", "dsd"] and report["options"]["dsd"] == 0.5
    assert stages["dsd_sparse"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert stages["dsd"]["sparsity"] < 0.5 * stages["dsd_sparse"]["sparsity"]  # the pruned weights trained again
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in stages.values())


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

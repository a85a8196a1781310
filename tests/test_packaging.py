"""Packaging: compatible ranges in setup.cfg, the tested set in constraints.txt, and a wheel that carries what the
library reads at run time and works from another folder without the checkout."""

import configparser
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from kerazoo.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIONAL = ("tf2onnx", "onnx", "onnxruntime", "ai_edge_litert", "tensorflow_serving", "tf_keras",
            "tensorflow_model_optimization")


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(REPO, "setup.cfg"))
    return config


def requirements(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("%(")]


def project_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def all_requirements() -> list[str]:
    config = setup_cfg()
    found = requirements(config["options"]["install_requires"])
    for extra in config["options.extras_require"].values():
        found += requirements(extra)
    return found


def test_requirements_are_compatible_ranges():
    for requirement in all_requirements():
        assert "==" not in requirement and ">=" in requirement and "<" in requirement, requirement


def test_constraints_pin_every_requirement():
    with open(os.path.join(REPO, "constraints.txt"), encoding="utf-8") as f:
        pins = dict(line.strip().split("==", 1) for line in f if "==" in line and not line.startswith("#"))
    pins = {project_name(name): version for name, version in pins.items()}
    missing = sorted({project_name(r) for r in all_requirements()} - set(pins) - {"stable-baselines3"})
    assert missing == [], "pin them in constraints.txt (pip freeze)"
    assert pins["tensorflow"].startswith("2.21.") and pins["torch"] == "2.13.0" and pins["torchvision"] == "0.28.0"


def test_convert_extra_is_in_dev():
    extras = setup_cfg()["options.extras_require"]
    convert = {project_name(r) for r in requirements(extras["convert"])}
    pretrained = {project_name(r) for r in requirements(extras["pretrained"])}
    assert convert == {"torch", "torchvision", "timm"} and "%(pretrained)s" in extras["convert"]
    assert pretrained == {"safetensors", "huggingface-hub"}  # converted and timm weights without torch
    assert "%(convert)s" in extras["all"] and "%(all)s" in extras["dev"]


def test_export_saved_model_on_the_base_install(capsys, monkeypatch, trained_run, tmp_path):
    for name in list(sys.modules):  # as if no extra were installed: their imports fail
        if name.split(".")[0] in OPTIONAL:
            monkeypatch.setitem(sys.modules, name, None)
    for name in OPTIONAL:
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["export", trained_run, "--repo", str(tmp_path), "--name", "m", "--formats", "saved_model"]) == 0
    out, err = capsys.readouterr()
    assert "exported" in out and "saved_model" in out and "warm-up" in err
    assert os.path.exists(tmp_path / "m" / "1" / "saved_model.pb")
    assert main(["export", trained_run, "--repo", str(tmp_path), "--name", "m", "--formats", "tflite"]) == 2
    assert 'pip install "kerazoo[tflite]"' in capsys.readouterr().err


def run(argv, *, cwd, env=None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**environment, **(env or {})},
                            timeout=900)
    assert result.returncode == 0, f"{' '.join(map(str, argv))}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_the_wheel_works_from_another_folder(tmp_path, idx_data_dir):
    # Build from a copy, so the checkout gets no build/ or egg-info.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "runs", "models", "__pycache__", ".pytest_cache", "bench",
        "docs", "demo", ".hypothesis"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(source)], cwd=tmp_path)
    (wheel,) = glob.glob(str(tmp_path / "dist" / "kerazoo-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    assert {"kerazoo/configs/fashion_lenet5.yaml", "kerazoo/cli/names.json",
            "kerazoo/applications/measured_results.json"} <= files

    # A fresh venv with the wheel; its dependencies are this environment's (a .pth line), so no download.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout
    with open(os.path.join(site.strip(), "tested_stack.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    kerazoo = str(venv / "bin" / "kerazoo")
    where = run([str(python), "-c", "import kerazoo; print(kerazoo.__file__)"], cwd=elsewhere).stdout
    assert where.startswith(str(venv)), where
    from kerazoo import __version__

    assert run([kerazoo, "--version"], cwd=elsewhere).stdout.startswith(f"kerazoo {__version__} (")
    card = run([kerazoo, "models", "resnet20"], cwd=elsewhere).stdout
    checkout_card = subprocess.run([sys.executable, "-m", "kerazoo", "models", "resnet20"], cwd=REPO,
                                   capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}).stdout
    assert card == checkout_card and "measured:" in card and "test_accuracy" in card
    trained = run([kerazoo, "train", "lenet5", "--config", "fashion_lenet5", "--data-dir", idx_data_dir,
                   "--epochs", "1", "--steps-per-epoch", "5", "--batch-size", "16", "data.train_split=train[:80]",
                   "data.val_split=train[80:]", "--out", "runs/lenet5"], cwd=elsewhere)
    assert trained.stdout.strip().endswith(f"run written to {elsewhere / 'runs' / 'lenet5'}")
    assert os.path.exists(elsewhere / "runs" / "lenet5" / "summary.json")

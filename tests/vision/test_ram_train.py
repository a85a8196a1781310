"""The RAM through the service: `kerazoo train --config fashion_ram` trains it, a killed run resumes, and
`kerazoo visualize RUN --method glimpses` draws its glimpse path."""

import json
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml

from kerazoo.cli import main

pytestmark = pytest.mark.slow  # a killed and a resumed training process (~1 min on an idle machine)

TINY = ("model.kwargs={glimpses: 2, glimpse_size: 8, scales: 2, glimpse_units: 16, location_units: 8, "
        "hidden_units: 16}")
OVERRIDES = [TINY, "data.train_split=train[:64]", "data.val_split=train[64:]", "data.batch_size=16", "epochs=3",
             "jit_compile=false", "strategy=default"]

# Trains with the CLI and kills the process (exit 137, no cleanup) right after epoch 2's backup is written.
KILLER = """
import os, sys
from kerazoo.cli import main
from kerazoo.training import callbacks as cb

original = cb.write_backup
def write_backup(folder, model, *, epoch, **kwargs):
    result = original(folder, model, epoch=epoch, **kwargs)
    if epoch == 2:
        os._exit(137)
    return result
cb.write_backup = write_backup
main(sys.argv[1:])
sys.exit("not killed")
"""


def train_args(out, data_dir):
    return ["train", "--config", "fashion_ram", *OVERRIDES, f"data.data_dir={data_dir}", "--out", out]


@pytest.fixture(scope="module")
def ram_run(tmp_path_factory, idx_data_dir):
    out = str(tmp_path_factory.mktemp("runs") / "ram")
    killed = subprocess.run([sys.executable, "-c", KILLER, *train_args(out, idx_data_dir)], capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert os.path.isdir(os.path.join(out, "backup")) and not os.path.exists(os.path.join(out, "summary.json"))
    assert main(train_args(out, idx_data_dir)) == 0  # the same command again: resumes
    return out


def test_killed_run_resumes_to_a_complete_run(ram_run):
    with open(os.path.join(ram_run, "metrics.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert all("val_accuracy" in line and np.isfinite(line["loss"]) for line in lines)
    with open(os.path.join(ram_run, "config.yaml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    assert config["resolved"]["resumed"] is True and config["model"]["name"] == "ram"
    assert config["data"]["dataset"] == "fashion_mnist_translated60"
    with open(os.path.join(ram_run, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["examples"] == 48 and 0.0 <= summary["accuracy"] <= 1.0  # the whole test split
    assert not os.path.exists(os.path.join(ram_run, "backup"))


def test_evaluate_uses_the_deterministic_policy(ram_run, capsys):
    assert main(["evaluate", ram_run, "--limit", "16"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["evaluate", ram_run, "--limit", "16"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_visualize_glimpses_writes_a_picture(ram_run, tmp_path, capsys):
    out = str(tmp_path / "figures")
    assert main(["visualize", ram_run, "--method", "glimpses", "--out", out]) == 0
    path = os.path.join(out, "glimpses.png")
    assert capsys.readouterr().out.strip().endswith("glimpses.png") and os.path.exists(path)
    picture = plt.imread(path)[..., :3]
    assert picture.shape[:2] == (600, 800)
    assert picture.std() > 0.05  # images, boxes and titles, not a blank canvas
    # the boxes are coloured (the canvases are grey): some pixels are far from grey
    assert (np.ptp(picture, axis=-1) > 0.3).sum() > 100


def test_method_given_twice_is_an_error(ram_run, tmp_path, capsys):
    assert main(["visualize", ram_run, "glimpses", "--method", "glimpses", "--out", str(tmp_path)]) == 2
    assert "Pass the method once: as METHOD or as --method" in capsys.readouterr().err

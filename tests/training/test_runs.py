"""`kerazoo runs list|show`: rows and tables read from run directories."""

import json
import os
import shutil
import time

import pytest

from kerazoo.cli import main
from kerazoo.training.callbacks import HEARTBEAT_FILE
from kerazoo.training.runs import STALE_SECONDS, list_runs, resolve_run, run_status, show_run


@pytest.fixture
def runs_root(tmp_path, trained_run):
    """runs/lenet (the finished trained_run) and runs/sweep/cut (the same run cut after epoch 2, no summary)."""
    root = tmp_path / "runs"
    shutil.copytree(trained_run, root / "lenet")
    cut = root / "sweep" / "cut"
    cut.mkdir(parents=True)
    shutil.copy(os.path.join(trained_run, "config.yaml"), cut / "config.yaml")
    with open(os.path.join(trained_run, "metrics.jsonl")) as f:
        (cut / "metrics.jsonl").write_text("".join(f.readlines()[:2]))
    return root


def test_list_runs_rows(runs_root, trained_run):
    rows = list_runs(str(runs_root))
    assert [r["name"] for r in rows] == ["lenet", os.path.join("sweep", "cut")]
    done, cut = rows
    with open(os.path.join(trained_run, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(trained_run, "metrics.jsonl")) as f:
        val = [json.loads(line)["val_accuracy"] for line in f]
    assert done == {"name": "lenet", "model": "lenet5", "dataset": "fashion_mnist", "epochs_done": 3,
                    "epochs_total": 3, "best_val_accuracy": max(val), "test_accuracy": summary["accuracy"],
                    "status": "complete"}
    assert cut["epochs_done"] == 2 and cut["test_accuracy"] is None and cut["best_val_accuracy"] == max(val[:2])
    assert cut["status"] == "interrupted"


def test_status_follows_the_heartbeat(runs_root):
    cut = str(runs_root / "sweep" / "cut")
    heartbeat = os.path.join(cut, HEARTBEAT_FILE)
    open(heartbeat, "w").close()
    assert run_status(cut) == "running"
    old = time.time() - STALE_SECONDS - 1
    os.utime(heartbeat, (old, old))
    assert run_status(cut) == "interrupted"


def test_show_run(runs_root):
    details = show_run(str(runs_root / "lenet"))
    overview = dict(details["overview"])
    assert overview["status"] == "complete" and overview["epochs"] == "3/3" and overview["model"] == "lenet5"
    assert overview["batch"] == "16 global, 16 per replica"
    assert [m["epoch"] for m in details["metrics"]] == [1, 2, 3]
    files = dict(details["files"])
    assert files["summary.json"] == os.path.getsize(runs_root / "lenet" / "summary.json")
    assert "checkpoints/best.keras" in files and HEARTBEAT_FILE in files  # the chief's heartbeat


def test_unknown_run_lists_close_names(runs_root):
    assert resolve_run("lenet", str(runs_root)) == os.path.join(str(runs_root), "lenet")
    with pytest.raises(FileNotFoundError, match="Did you mean lenet"):
        resolve_run("lenett", str(runs_root))
    with pytest.raises(FileNotFoundError, match="No runs folder"):
        list_runs(str(runs_root / "missing"))


def test_cli_tables(runs_root, capsys):
    assert main(["runs", "list", "--root", str(runs_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "model", "dataset", "epochs", "best", "val", "acc", "test", "acc", "status"]
    assert lines[1].split()[:4] == ["lenet", "lenet5", "fashion_mnist", "3/3"] and lines[1].endswith("complete")
    assert lines[2].split()[3] == "2/3" and lines[2].split()[5] == "-" and lines[2].endswith("interrupted")
    assert main(["runs", "show", "sweep/cut", "--root", str(runs_root)]) == 0
    out = capsys.readouterr().out
    assert "status: interrupted" in out and "epoch  loss" in out and "metrics.jsonl" in out
    assert main(["runs", "show", "nope", "--root", str(runs_root)]) == 2
    assert "kerazoo runs: error: No run 'nope'" in capsys.readouterr().err

"""`kerazoo rl train|eval|record|export|plot` in-process: the issue's commands on a tiny run, and bad input."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from kerazoo.cli import main

TINY = ["--steps", "600", "--learning-starts", "256", "--train-freq", "128", "--gradient-steps", "8",
        "--chunk-steps", "128", "--hidden-sizes", "32,32", "--eval-episodes", "2", "--no-verbose"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "dqn_cartpole")
    assert main(["rl", "train", "dqn", "--env", "CartPole-v1", "--seed", "0", "--out", out, *TINY]) == 0
    return out


def test_train_writes_the_run_with_the_flags(cli_run, capsys):
    with open(os.path.join(cli_run, "summary.json")) as f:
        summary = json.load(f)
    assert summary["steps"] == 600 and summary["gradient_steps"] == 8 * 2  # trainings at steps 384 and 512
    import yaml

    with open(os.path.join(cli_run, "config.yaml")) as f:
        args = yaml.safe_load(f)["args"]
    assert args["hidden_sizes"] == [32, 32] and args["verbose"] is False and args["learning_rate"] == 2.3e-3


def test_eval_and_record_and_export(cli_run, tmp_path, capsys):
    assert main(["rl", "eval", cli_run, "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["algorithm"] == "dqn" and len(result["returns"]) == 2

    gif = str(tmp_path / "cartpole.gif")
    # several episodes, so the frame cap is reached whatever the tiny policy's episode lengths
    assert main(["rl", "record", cli_run, "--out", gif, "--episodes", "5", "--max-frames", "12",
                 "--scale", "0.25"]) == 0
    assert "12 frames" in capsys.readouterr().out
    with Image.open(gif) as im:  # (Pillow merges identical consecutive frames)
        assert 1 < im.n_frames <= 12 and im.size == (150, 100)

    assert main(["rl", "export", cli_run, "--out", str(tmp_path / "models" / "dqn" / "1")]) == 0
    assert os.path.exists(tmp_path / "models" / "dqn" / "1" / "saved_model.pb")


def test_train_writes_returns_plot_and_plot_overlays_runs(cli_run, tmp_path, capsys):
    pixels = np.asarray(Image.open(os.path.join(cli_run, "returns.png")).convert("L"))
    assert (pixels < 250).mean() > 0.02  # not blank
    out = str(tmp_path / "seeds.png")
    assert main(["rl", "plot", cli_run, cli_run, "--out", out, "--title", "twice"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    with Image.open(out) as im:
        assert im.size == (700, 450)


@pytest.mark.parametrize("argv, message", [
    (["rl", "train", "dqn", "--env", "Pendulum-v1"], "DQN needs a discrete action space"),
    (["rl", "train", "a2c", "--env", "CartPol-v1"], "Unknown environment id 'CartPol-v1'"),
    (["rl", "eval", "no/such/run"], "not a kerazoo.rl run directory"),
    (["rl", "train", "dqn", "--tau", "2"], "'tau' must be in (0, 1]"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("kerazoo rl: error:") and "Traceback" not in err


def test_algorithm_help_lists_its_fields(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rl", "train", "dqn", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--double-q" in out and "--target-update-interval" in out and "Acrobot-v1" in out
    with pytest.raises(SystemExit):
        main(["rl", "train", "ppo"])

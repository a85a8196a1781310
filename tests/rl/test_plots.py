"""kerazoo.rl.plots: returns.png from metrics.jsonl, one colour per run (seed), and clear errors on bad input."""

import json
import re
import os

import numpy as np
import pytest
import yaml
from PIL import Image

from kerazoo.rl.plots import plot_returns, returns_series, write_run_plot

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two cycle colours: seed runs 1 and 2


def fake_run(folder, seed, offset=0.0):
    """A run directory with config.yaml and a metrics.jsonl shaped like RunLogger's (intervals, then evaluations)."""
    os.makedirs(folder)
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        yaml.safe_dump({"algorithm": "dqn", "args": {"env": "CartPole-v1", "seed": seed}}, f)
    lines = [{"step": s, "sps": 900.0, "episodic_return": 10.0 + offset + s / 50, "episodes": 3}
             for s in range(500, 5001, 500)]
    lines += [{"step": s, "eval": "periodic", "eval_mean": 20.0 + offset + s / 40, "eval_std": 1.0,
               "eval_episodes": 5} for s in (2500, 5000)]
    lines.append({"step": 5000, "eval": "final", "eval_mean": 150.0 + offset, "eval_std": 2.0, "eval_episodes": 10})
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    return str(folder)


def colour_pixels(path, rgb):
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array(rgb)).sum(axis=-1) < 30).sum())


def test_series_read_returns_and_evaluations(tmp_path):
    found = returns_series(os.path.join(fake_run(tmp_path / "run", seed=0), "metrics.jsonl"))
    assert len(found["episodic"]) == 10 and found["episodic"][0] == (500, 20.0)
    assert found["eval"] == [(2500, 82.5), (5000, 145.0), (5000, 150.0)]


def test_one_run_is_drawn_non_blank(tmp_path):
    out = plot_returns(fake_run(tmp_path / "run", seed=0), str(tmp_path / "returns.png"))
    pixels = np.asarray(Image.open(out).convert("L"))
    assert pixels.shape == (450, 700) and (pixels < 250).mean() > 0.02  # axes, text and curves, not a white page
    assert colour_pixels(out, BLUE) > 200 and colour_pixels(out, ORANGE) == 0


def test_seeds_are_overlaid_one_colour_each(tmp_path):
    runs = [fake_run(tmp_path / f"s{seed}", seed=seed, offset=30.0 * seed) for seed in (0, 1)]
    out = plot_returns(runs, str(tmp_path / "seeds.png"), title="DQN, two seeds")
    assert colour_pixels(out, BLUE) > 200 and colour_pixels(out, ORANGE) > 200
    assert not os.path.exists(str(tmp_path / "seeds.png") + ".tmp")


@pytest.mark.parametrize("runs, out, message", [
    ([], "a.png", "expected at least one run directory"),
    (["RUN"], "a.jpg", "expected a path ending in .png. Received: out_path="),
    (["EMPTY"], "a.png", "has no episodic return or evaluation"),
])
def test_bad_input_is_one_clear_error(tmp_path, runs, out, message):
    run = fake_run(tmp_path / "run", seed=0)
    os.makedirs(tmp_path / "empty")
    runs = [run if r == "RUN" else str(tmp_path / "empty") for r in runs]
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_returns(runs, str(tmp_path / out))


def test_a_run_with_nothing_logged_gets_no_plot_and_no_error(tmp_path):
    empty = tmp_path / "short"
    os.makedirs(empty)
    (empty / "metrics.jsonl").write_text(json.dumps({"step": 100, "sps": 900.0}) + "\n")
    assert write_run_plot(str(empty)) is None and not os.path.exists(empty / "returns.png")
    run = fake_run(tmp_path / "run", seed=3)
    assert write_run_plot(run) == os.path.join(run, "returns.png") and os.path.getsize(os.path.join(run, "returns.png"))

"""The returns plot of RL runs: ``returns.png``, the RL counterpart of a training run's ``curves.png``.

Drawn from the runs' ``metrics.jsonl``: the mean episodic return of each log interval (solid) and the periodic and
final evaluations of the greedy policy (dashed, markers) against environment steps. Several runs (seeds of one
configuration) are overlaid, one colour per run, labelled by seed.

    from kerazoo.rl.plots import plot_returns
    plot_returns(["runs/dqn_s0", "runs/dqn_s1", "runs/dqn_s2"], "dqn_seeds.png")
"""

from __future__ import annotations

import os

from kerazoo.io import save_figure
from kerazoo.training.callbacks import read_metrics

RETURNS_PLOT = "returns.png"


def returns_series(metrics_path: str) -> dict[str, list[tuple[int, float]]]:
    """(step, value) pairs of ``metrics.jsonl``: ``"episodic"`` (mean return per log interval) and ``"eval"``
    (periodic and final evaluations, in the order logged)."""
    records = read_metrics(metrics_path)
    episodic = [(r["step"], r["episodic_return"]) for r in records if "episodic_return" in r]
    evals = [(r["step"], r["eval_mean"]) for r in records if "eval_mean" in r]
    return {"episodic": episodic, "eval": evals}


def write_run_plot(run_dir: str) -> str | None:
    """``RUN/returns.png`` at the end of a run; None (and no file) when the run logged no return or evaluation (a run
    shorter than its log interval with evaluation off), so a short run never fails at its last step."""
    found = returns_series(os.path.join(run_dir, "metrics.jsonl"))
    if not found["episodic"] and not found["eval"]:
        return None
    return plot_returns(run_dir, os.path.join(run_dir, RETURNS_PLOT))


def _label(run_dir: str) -> str:
    """``seed N`` from the run's config.yaml (the folder's name if it has none)."""
    import yaml

    try:
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        return f"seed {config['args']['seed']}"
    except (OSError, KeyError, TypeError):
        return os.path.basename(os.path.normpath(run_dir))


def plot_returns(run_dirs, out_path: str, *, title: str | None = None) -> str:
    """Write the episodic return and the evaluation curve against steps of ``run_dirs`` (one run directory or a list,
    overlaid) as a PNG at ``out_path`` (temp name, then rename); return the path. A run without a logged return or
    evaluation is a ValueError naming it."""
    run_dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike)) else list(run_dirs)
    if not run_dirs:
        raise ValueError("Invalid run_dirs: expected at least one run directory. Received: run_dirs=[]")
    if not str(out_path).lower().endswith(".png"):
        raise ValueError(f"Invalid out_path: expected a path ending in .png. Received: out_path={out_path!r}")
    series = {}
    for run_dir in run_dirs:
        found = returns_series(os.path.join(run_dir, "metrics.jsonl"))
        if not found["episodic"] and not found["eval"]:
            raise ValueError(f"Run {str(run_dir)!r} has no episodic return or evaluation in metrics.jsonl to plot.")
        series[str(run_dir)] = found

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (run_dir, found) in enumerate(series.items()):
        colour, label = colours[i % len(colours)], _label(run_dir)
        if found["episodic"]:
            steps, values = zip(*found["episodic"])
            ax.plot(steps, values, "-", color=colour, alpha=0.8, label=f"{label}: episodic return")
        if found["eval"]:
            steps, values = zip(*found["eval"])
            ax.plot(steps, values, "--", marker="o", color=colour, label=f"{label}: evaluation")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title or ", ".join(sorted({_env(d) for d in series})))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, str(out_path), dpi=100)


def _env(run_dir: str) -> str:
    """``ALGORITHM on ENV`` from the run's config.yaml ("returns" if it has none)."""
    import yaml

    try:
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        return f"{config['algorithm']} on {config['args']['env']}"
    except (OSError, KeyError, TypeError):
        return "returns"

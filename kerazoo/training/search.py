"""Hyperparameter search as the CS231n notes recommend: random (not grid) search in log space, coarse then fine.

    from kerazoo.training import load_config
    from kerazoo.training.search import search
    config = load_config(overrides=["model.name=resnet20", "epochs=1", "steps_per_epoch=50"])
    result = search(config, {"optimizer.lr": (1e-4, 1.0), "optimizer.weight_decay": (1e-6, 1e-2)},
                    trials=8, stages=2, out="runs/search_r20")
    print(result.table())            # also results.json and search.png (the scatter plot) in ``out``

Each trial trains a few epochs of the config with sampled values (Bergstra and Bengio, 2012: random search finds
good values with fewer trials than a grid when few parameters matter). A trial stops as soon as its training loss
exceeds 3x its initial loss (it diverged; no point in finishing). Each later stage samples again inside the range
spanned by the best few trials of the stage before, widened by half a decade's worth on each side.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import keras
import numpy as np

__all__ = ["DivergenceStop", "SearchResult", "refine", "sample", "search"]


class DivergenceStop(keras.callbacks.Callback):
    """Stop training once the batch loss exceeds ``factor`` times the first batch's loss, or is not finite."""

    def __init__(self, factor: float = 3.0):
        super().__init__()
        self.factor = factor
        self.first = None
        self.diverged = False

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", float("nan")))
        self.first = loss if self.first is None else self.first
        if not math.isfinite(loss) or loss > self.factor * self.first:
            self.diverged = True
            self.model.stop_training = True


def _check_space(space: dict) -> dict:
    if not space:
        raise ValueError("Invalid space: expected at least one FIELD: (low, high) range. Received: space={}")
    for name, bounds in space.items():
        if len(bounds) != 2 or not 0 < bounds[0] < bounds[1]:
            raise ValueError(f"Invalid range for {name}: expected (low, high) with 0 < low < high (sampled in log "
                             f"space). Received: {tuple(bounds)!r}")
    return space


def sample(space: dict, count: int, rng: np.random.Generator) -> list[dict]:
    """``count`` points, each value log-uniform in its (low, high) range."""
    return [{name: float(math.exp(rng.uniform(math.log(low), math.log(high)))) for name, (low, high) in space.items()}
            for _ in range(count)]


def refine(space: dict, rows: list[dict], keep: int = 3, widen: float = 0.5) -> dict:
    """The range of the ``keep`` best trials of ``rows`` per parameter, widened by ``widen`` decades on each side
    and kept inside the original ``space``."""
    ranked = sorted((r for r in rows if not r["diverged"]), key=lambda r: -r["val_accuracy"])[:keep]
    if not ranked:
        return space
    narrowed = {}
    for name, (low, high) in space.items():
        logs = [math.log10(r["params"][name]) for r in ranked]
        narrowed[name] = (max(low, 10 ** (min(logs) - widen)), min(high, 10 ** (max(logs) + widen)))
    return narrowed


def run_trial(config, verbose: int = 0, *, test: bool = False) -> dict:
    """Train ``config`` briefly with the task's pipelines, model and loss; its validation figures (or training
    figures when there is no validation split), and with ``test`` its accuracy on the config's test split too."""
    from kerazoo.training import speed
    from kerazoo.training.run import make_optimizer
    from kerazoo.training.tasks import task_for_model

    keras.utils.set_random_seed(config.seed)
    task = task_for_model(config.model.name)
    info = task.dataset_info(config)
    train_ds, val_ds = task.pipelines(config, 1)
    steps = int(train_ds.cardinality())
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch) if steps > 0 else config.steps_per_epoch
        train_ds = train_ds.repeat()
    model = task.build(config, info)
    trainer = task.trainer(model, config)
    speed.use_fused_batch_norm(config.fused_batch_norm, model, config.speed)
    stop = DivergenceStop()
    fast = speed.resolve_compile_settings(config, model, train_ds, steps, [stop])[0]  # "auto" → numbers, as train
    task.compile(trainer, fast, make_optimizer(config, steps))
    history = trainer.fit(train_ds, validation_data=val_ds, epochs=config.epochs, steps_per_epoch=steps,
                          callbacks=[stop], verbose=verbose, shuffle=False).history  # the pipeline shuffles
    prefix = "val_" if val_ds is not None else ""
    accuracy = history.get(prefix + "accuracy") or [float("nan")]
    loss = history.get(prefix + "loss") or [float("nan")]
    figures = {"val_accuracy": 0.0 if stop.diverged else float(accuracy[-1]), "val_loss": float(loss[-1]),
               "diverged": stop.diverged}
    if test:
        figures["test_accuracy"] = float(task.evaluate(model, config)["accuracy"])
    return figures


@dataclasses.dataclass
class SearchResult:
    rows: list
    """One dict per trial: stage, trial, params, val_accuracy, val_loss, diverged."""
    spaces: list
    """The range searched at each stage."""

    @property
    def best(self) -> dict:
        return max(self.rows, key=lambda r: (not r["diverged"], r["val_accuracy"]))

    def table(self) -> str:
        names = list(self.rows[0]["params"]) if self.rows else []
        header = f"{'stage':>5} {'trial':>5} " + " ".join(f"{n:>22}" for n in names) + f" {'val_acc':>8} {'val_loss':>9}"
        lines = [header]
        for r in sorted(self.rows, key=lambda r: -r["val_accuracy"]):
            values = " ".join(f"{r['params'][n]:>22.3e}" for n in names)
            note = "  diverged" if r["diverged"] else ""
            lines.append(f"{r['stage']:>5} {r['trial']:>5} {values} {r['val_accuracy']:>8.4f} {r['val_loss']:>9.4f}{note}")
        return "\n".join(lines)

    def plot(self, path: str) -> str:
        """Scatter of validation accuracy against each parameter (log axis); stages in different markers."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from kerazoo.io import save_figure

        names = list(self.rows[0]["params"])
        fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
        for ax, name in zip(axes[0], names):
            for stage in sorted({r["stage"] for r in self.rows}):
                rows = [r for r in self.rows if r["stage"] == stage]
                ax.scatter([r["params"][name] for r in rows], [r["val_accuracy"] for r in rows],
                           marker="o" if stage == 1 else "^", label=f"stage {stage}")
            ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel("validation accuracy")
            ax.grid(alpha=0.3)
            ax.legend()
        return save_figure(fig, path, "Random search (log space)")


def search(config, space: dict, *, trials: int = 8, stages: int = 2, seed: int = 0, out: str | None = None,
           verbose: int = 0) -> SearchResult:
    """Coarse-to-fine random search over config fields.

    Args:
        config: the base ``TrainConfig`` (keep ``epochs``/``steps_per_epoch`` small: trials only need to rank).
        space: config field → (low, high), e.g. ``{"optimizer.lr": (1e-4, 1.0)}``; sampled log-uniformly.
        trials: trials per stage.
        stages: 1 = coarse only; each further stage samples inside the best trials' range.
        seed: seed of the sampling.
        out: folder for ``results.json`` and ``search.png``. ``results.json`` is rewritten (atomically) after every
            trial, so a search killed at any point and started again with the same arguments reuses its finished
            trials (the sampling is seeded: the same trials come up in the same order) and runs only the others.
    """
    from kerazoo.training.config import apply_overrides, config_from_dict, config_to_dict

    if trials < 1 or stages < 1:
        raise ValueError(f"Invalid trials/stages: expected integers >= 1. Received: trials={trials!r}, stages={stages!r}")
    space = _check_space(dict(space))
    base = config_to_dict(config)
    config_from_dict(apply_overrides(base, [f"{name}={low}" for name, (low, _) in space.items()]))  # unknown fields
    settings = json.loads(json.dumps({"config": base, "space": space, "trials": trials, "stages": stages,
                                      "seed": seed}))
    done = finished_rows(out, settings)
    rng = np.random.default_rng(seed)
    rows, spaces, current = [], [], space
    for stage in range(1, stages + 1):
        spaces.append({k: list(v) for k, v in current.items()})
        for params in sample(current, trials, rng):
            row = {"stage": stage, "trial": len(rows) + 1, "params": json.loads(json.dumps(params))}
            saved = done.get(row["trial"])
            if saved is not None and {k: saved[k] for k in row} == row:
                rows.append(saved)
                continue
            trial_config = config_from_dict(apply_overrides(base, [f"{k}={v!r}" for k, v in params.items()]))
            rows.append({**row, **run_trial(trial_config, verbose)})
            if verbose:
                print(f"trial {len(rows)}: {params} → {rows[-1]}", flush=True)
            _write_results(out, settings, SearchResult(rows, spaces))
        current = refine(space, [r for r in rows if r["stage"] == stage])
    result = SearchResult(rows, spaces)
    if out:
        _write_results(out, settings, result)
        result.plot(os.path.join(out, "search.png"))
    return result


def finished_rows(out: str | None, settings: dict, *, key: str = "trial") -> dict:
    """The rows (by ``key``: trial or child number) that an earlier attempt of a search wrote to
    ``out/results.json``; a file written by a search with other settings is a ValueError rather than silently
    replaced. Shared by the hyper-parameter search and the architecture search (kerazoo.training.nas)."""
    path = os.path.join(out, "results.json") if out else None
    if path is None or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    before = saved.get("settings") or {}
    if before != settings:
        changed = sorted(k for k in set(settings) | set(before) if before.get(k) != settings.get(k))
        raise ValueError(f"{path} holds a search with other settings ({', '.join(changed)} differ). Rerun with the "
                         "same arguments to resume it, or choose another --out.")
    return {row[key]: row for row in saved["rows"]}


def _write_results(out: str | None, settings: dict, result: SearchResult) -> None:
    if not out:
        return
    from kerazoo.io import atomic_write_text

    os.makedirs(out, exist_ok=True)
    record = {"rows": result.rows, "spaces": result.spaces, "best": result.best, "settings": settings}
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(record, indent=1) + "\n")

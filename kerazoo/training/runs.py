"""Run management: what the run directories under a root hold, as rows for ``kerazoo runs list`` and ``runs show``.

A folder is a run when it has ``config.yaml``; runs may be nested (``runs/bench/resnet20``) and are named by their
path under the root. Status comes from the run-directory contract alone:

- ``complete``: ``summary.json`` exists (``train`` writes it last);
- ``running``: no summary, and the chief's ``heartbeat`` file was touched within ``STALE_SECONDS``;
- ``interrupted``: neither (rerun the same ``kerazoo train`` command to resume from ``backup/``).
"""

from __future__ import annotations

import os

from kerazoo import runs as rundir
from kerazoo.runs import HEARTBEAT as HEARTBEAT_FILE, STALE_SECONDS, RunDir  # noqa: F401 (their old names here)


def run_status(run_dir: str, now: float | None = None) -> str:
    """``complete``, ``running`` or ``interrupted`` (see the module docstring; :meth:`kerazoo.runs.RunDir.status`)."""
    return RunDir(run_dir).status(now)


def _best_val_accuracy(metrics: list[dict]):
    values = [m["val_accuracy"] for m in metrics if isinstance(m.get("val_accuracy"), float)]
    return max(values) if values else None


def run_row(run_dir: str, name: str | None = None) -> dict:
    """One run's line of ``kerazoo runs list``."""
    run = RunDir(run_dir)
    config = run.read_config()
    metrics = run.read_metrics()
    summary = run.read_summary() or {}
    return {
        "name": name or os.path.basename(run.path),
        "model": config.get("model", {}).get("name"),
        "dataset": config.get("data", {}).get("dataset"),
        "epochs_done": max((m.get("epoch", 0) for m in metrics), default=0),
        "epochs_total": config.get("epochs"),
        "best_val_accuracy": _best_val_accuracy(metrics),
        "test_accuracy": summary.get("accuracy"),
        "status": run.status(),
    }


def find_runs(root: str) -> list[str]:
    """Every run directory under ``root`` (a run's own sub-folders are not searched), sorted by path
    (:func:`kerazoo.runs.list_runs`)."""
    return [run.path for run in rundir.list_runs(root)]


def list_runs(root: str = "runs") -> list[dict]:
    """A row (see :func:`run_row`) per run under ``root``, named by its path under ``root``."""
    return [run_row(run.path, os.path.relpath(run.path, os.path.abspath(root))) for run in rundir.list_runs(root)]


def resolve_run(name: str, root: str = "runs") -> str:
    """A run directory from a path or a name under ``root``; unknown names list close matches."""
    for candidate in (name, os.path.join(root, name)):
        if RunDir(candidate).exists():
            return candidate
    import difflib

    names = [os.path.relpath(p, root) for p in find_runs(root)] if os.path.isdir(root) else []
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else f" Runs under {root}: {', '.join(names) or 'none'}."
    raise FileNotFoundError(f"No run {name!r} (a folder with config.yaml) here or under {root}.{hint}")


def show_run(path: str) -> dict:
    """Everything ``kerazoo runs show`` prints: ``overview`` (field, value) rows, per-epoch ``metrics`` rows and the
    ``files`` of the run with their sizes."""
    config = RunDir(path).read_config()
    row = run_row(path)
    resolved = config.get("resolved", {})
    optimizer, schedule, data = config.get("optimizer", {}), config.get("schedule", {}), config.get("data", {})
    overview = [
        ("status", row["status"]),
        ("model", row["model"]),
        ("dataset", f"{row['dataset']} ({data.get('train_split')} / {data.get('val_split')} / {data.get('test_split')})"),
        ("epochs", f"{row['epochs_done']}/{row['epochs_total']}"),
        ("strategy", f"{config.get('strategy')} -> {resolved.get('strategy', {}).get('class')} "
                     f"x{resolved.get('strategy', {}).get('replicas')}"),
        ("batch", f"{data.get('batch_size')} global, {resolved.get('per_replica_batch_size')} per replica"),
        ("optimizer", f"{optimizer.get('name')} lr {optimizer.get('lr')} at batch {optimizer.get('base_batch_size')} "
                      f"(scaled: {resolved.get('lr')}), momentum {optimizer.get('momentum')}, "
                      f"weight decay {optimizer.get('weight_decay')}"),
        ("schedule", f"{schedule.get('name')}, warm-up {schedule.get('warmup_epochs')} epochs"
                     + (f", x{schedule.get('step_factor')} at epochs {schedule.get('step_epochs')}"
                        if schedule.get("name") == "step" else "")),
        ("precision", config.get("precision")),
        ("seed", config.get("seed")),
        ("best val accuracy", row["best_val_accuracy"]),
        ("test accuracy", row["test_accuracy"]),
    ]
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            files.append((os.path.relpath(full, path), os.path.getsize(full)))
    return {"overview": overview, "metrics": RunDir(path).read_metrics(), "files": files}


def _cell(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def format_runs(rows: list[dict]) -> str:
    """The ``kerazoo runs list`` table."""
    header = ["name", "model", "dataset", "epochs", "best val acc", "test acc", "status"]
    body = [[r["name"], _cell(r["model"]), _cell(r["dataset"]), f"{r['epochs_done']}/{_cell(r['epochs_total'])}",
             _cell(r["best_val_accuracy"]), _cell(r["test_accuracy"]), r["status"]] for r in rows]
    return _table(header, body)


def format_run(details: dict) -> str:
    """The ``kerazoo runs show`` text: overview, per-epoch metrics, files."""
    width = max(len(k) for k, _ in details["overview"])
    parts = ["\n".join(f"{k:>{width}}: {_cell(v)}" for k, v in details["overview"])]
    metrics = details["metrics"]
    if metrics:
        keys = ["epoch"] + [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr") if k in metrics[0]]
        keys += sorted({k for m in metrics for k in m} - set(keys))
        parts.append(_table(keys, [[_cell(m.get(k), 6 if k == "lr" else 4) for k in keys] for m in metrics]))
    parts.append(_table(["file", "bytes"], [[name, str(size)] for name, size in details["files"]]))
    return "\n\n".join(parts)

"""``kerazoo doctor``: the CS231n "babysitting the learning process" checklist, run automatically on a model.

    from kerazoo.doctor import diagnose
    report = diagnose("resnet20", dataset="fashion_mnist", out="doctor/")
    print(report.table())            # one verdict per check, with its numbers and what a failure means

Each check lives in its own module and returns a :class:`CheckResult` (pass, warn or fail):

- ``nan_guard``: weights, outputs, loss and gradients are finite.
- ``initial_loss``: ≈ ln(C) with regularization off, higher with an L2 term on.
- ``gradients``: per-layer gradient norms; zero (vanishing) or huge/non-finite (exploding) gradients.
- ``activations``: dead ReLU channels and saturated tanh/sigmoid units per layer.
- ``update_ratio``: ||ΔW|| / ||W|| per layer after one step at the configured learning rate (~1e-3).
- ``divergence``: a few steps at the configured learning rate must not blow the loss up (> 3x) or make it NaN.
- ``overfit_small_subset``: ~100 % training accuracy on 20 examples with regularization off.
- ``lr_range``: loss vs an exponentially rising learning rate (Smith, 2017); suggests one; ``lr_range.png``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import time
from dataclasses import dataclass

import keras
import numpy as np

from kerazoo.doctor import activations, divergence, gradients, initial_loss, lr_range, nan_guard, overfit, update_ratio
from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult, Context, DoctorOptions

__all__ = ["CHECKS", "CheckResult", "DoctorOptions", "DoctorReport", "diagnose"]

CHECKS = {module.NAME: module.check for module in (
    nan_guard, initial_loss, gradients, activations, update_ratio, divergence, overfit, lr_range)}


@dataclass
class DoctorReport:
    model: str
    dataset: str
    results: list

    @property
    def passed(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(r.status != FAIL for r in self.results)

    def __getitem__(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def table(self) -> str:
        lines = [f"kerazoo doctor: {self.model} on {self.dataset}"]
        for r in self.results:
            lines.append(f"[{r.status.upper():4}] {r.name}: {r.summary}")
            if r.status != PASS:
                lines.append(f"       what it means: {r.meaning}")
        failed = sum(r.status == FAIL for r in self.results)
        warned = sum(r.status == WARN for r in self.results)
        lines.append(f"{len(self.results) - failed - warned} passed, {warned} warnings, {failed} failed")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"model": self.model, "dataset": self.dataset, "passed": self.passed,
                "checks": [dataclasses.asdict(r) for r in self.results]}


def _select(checks) -> list[str]:
    names = list(CHECKS) if checks is None else list(checks)
    for name in names:
        if name not in CHECKS:
            close = difflib.get_close_matches(name, CHECKS, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown check {name!r}.{hint} Known checks: {', '.join(CHECKS)}.")
    return names


def diagnose(model: str | None = None, *, dataset: str | None = None, data_dir: str | None = None,
             overrides=(), config=None, build=None, checks=None, options: DoctorOptions | None = None,
             out: str | None = None) -> DoctorReport:
    """Run the checklist on a zoo model (built as ``kerazoo train`` would build it) and a dataset.

    Args:
        model: registered model name (default: the config's).
        dataset: dataset name (default: the config's).
        data_dir: folder holding the dataset files.
        overrides: training-config overrides (``optimizer.lr=0.05``): the recipe under examination.
        config: a ``TrainConfig`` instead of ``model``/``dataset``/``overrides``.
        build: a function returning a fresh model (raw pixels → logits) to examine instead of the zoo model.
        checks: names of the checks to run (default: all, in the order of ``CHECKS``).
        options: budgets and thresholds (:class:`DoctorOptions`).
        out: folder for ``doctor.json`` and ``lr_range.png``.
    """
    from kerazoo import datasets
    from kerazoo.training import load_config
    from kerazoo.training.tasks import Task, task_for_model

    names = _select(checks)
    options = options or DoctorOptions()
    if config is None:
        flags = [f"model.name={model}"] if model else []
        flags += [f"data.dataset={dataset}"] if dataset else []
        flags += [f"data.data_dir={data_dir}"] if data_dir else []
        config = load_config(overrides=[*flags, *overrides])
    task = task_for_model(config.model.name) if build is None else Task()
    if type(task) is not Task:
        raise ValueError(f"kerazoo doctor checks classifiers; {config.model.name!r} is a {task.name} model.")
    info = task.dataset_info(config)
    batch = datasets.load(config.data.dataset, config.data.train_split, data_dir=config.data.data_dir,
                          batch_size=options.batch_size, shuffle=False, limit=options.batch_size)
    images, labels = (np.asarray(t) for t in next(iter(batch)))

    def build_model():
        keras.utils.set_random_seed(config.seed)
        return build() if build is not None else task.build(config, info)

    if out:
        os.makedirs(out, exist_ok=True)
    ctx = Context(config, build_model, images, labels, info.num_classes, options, out)
    results = []
    for name in names:
        start = time.perf_counter()
        result = CHECKS[name](ctx)
        result.figures["seconds"] = round(time.perf_counter() - start, 2)
        results.append(result)
    report = DoctorReport(config.model.name if build is None else "custom model", config.data.dataset, results)
    if out:
        from kerazoo.io import atomic_write_text

        atomic_write_text(os.path.join(out, "doctor.json"), json.dumps(report.to_dict(), indent=1, default=float))
    return report

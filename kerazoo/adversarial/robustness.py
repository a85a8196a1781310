"""Robustness reports: accuracy against ε for one attack, with the attack's strength stated and sanity checks.

    report = robustness_report("runs/lenet", attack="pgd", eps=[0.01, 0.03, 0.1, 0.2], out="report/")

writes ``report/robustness.json`` (the table, the attack's settings, the checks), ``report/robustness.png`` (the
curve) and ``report/examples.png`` (clean / perturbation / adversarial images with their predicted labels). The
model is a run directory, a ``.keras`` file, or an exported SavedModel (a model-repository version): gradients then
flow through its ``serving_default`` signature function. TFLite and ONNX files have no gradients and are refused.

A robustness figure is only as good as the attack behind it, so the report states the attack's steps, step size and
restarts, and checks for signs of gradient masking (Athalye, Carlini and Wagner, "Obfuscated gradients give a false
sense of security", ICML 2018; Carlini et al., "On evaluating adversarial robustness", 2019): an iterative attack
must not do worse than FGSM, accuracy must not rise with ε, and an attack whose budget covers the whole pixel range
must bring accuracy to about zero. Failed checks are listed under ``warnings``.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from kerazoo.adversarial.attacks import RAW_PIXELS, check_eps, check_norm, logits_of, run_attack
from kerazoo.io import atomic_write_text

NO_GRADIENT_SUFFIXES = (".tflite", ".onnx")
SANITY_TOLERANCE = 0.02
"""Accuracy slack of the monotonicity checks (random starts make PGD slightly noisy); at least two examples."""
LARGE_EPS_MAX_ACCURACY = 0.05
COMPILE_ABOVE_BATCHES = 4


# ---------------------------------------------------------------------------------------------------- models
def load_attackable(path: str):
    """``(model, fmt)``: a differentiable raw-pixel → logits callable for a run, a ``.keras`` file or a SavedModel.

    Raises:
        ValueError: ``path`` is a TFLite or ONNX file (no gradients), or not a model kerazoo can read.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    if path.endswith(NO_GRADIENT_SUFFIXES):
        raise ValueError(
            f"{path} is a {os.path.splitext(path)[1]} file, which has no gradients: white-box attacks need the "
            "run directory, its .keras checkpoint or the exported SavedModel (the version directory). To attack it "
            "as a black box, craft the examples on another model with kerazoo.adversarial.transfer."
        )
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
        return saved_model_logits(path), "saved_model"
    from kerazoo.runs import RunDir

    if os.path.isdir(path) and RunDir(path).exists():
        return RunDir(path).load_model(), "keras"
    if path.endswith(".keras"):
        import keras

        from kerazoo.applications.common import verify_sha256

        verify_sha256(path)
        return keras.saving.load_model(path, safe_mode=True), "keras"
    raise ValueError(f"Cannot attack {path}: expected a run directory, a .keras file or a SavedModel directory.")


def saved_model_logits(path: str):
    """The ``logits`` output of a SavedModel's ``serving_default`` as a function of ``images`` (differentiable)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    signature = loaded.signatures.get("serving_default")
    if signature is None or "logits" not in signature.structured_outputs:
        raise ValueError(f"SavedModel {path} has no serving_default signature returning 'logits' (the kerazoo contract).")

    def logits(images):
        return signature(images=tf.convert_to_tensor(images, tf.float32))["logits"]

    logits.saved_model = loaded  # the signature needs the loaded object (its variables) alive
    return logits


# ---------------------------------------------------------------------------------------------------- figures
def predict(model, images, batch_size: int = 256) -> np.ndarray:
    """Predicted classes of ``model`` on ``images``."""
    from keras import ops

    return np.concatenate([
        np.argmax(ops.convert_to_numpy(logits_of(model, images[i : i + batch_size])), axis=-1)
        for i in range(0, len(images), batch_size)
    ])


def attack_batches(attack: str, model, images, labels, eps: float, batch_size: int = 256, **kwargs) -> np.ndarray:
    """Adversarial versions of ``images``, crafted batch by batch. With TensorFlow and more than a few batches the
    attack runs as one ``tf.function`` (about twice as fast as eager steps once traced)."""
    import keras
    from keras import ops

    def craft(x, y):
        return run_attack(attack, model, x, y, eps, **kwargs)

    if keras.backend.backend() == "tensorflow" and len(images) > COMPILE_ABOVE_BATCHES * batch_size:
        import tensorflow as tf

        seed = kwargs.get("seed")
        if seed is None or isinstance(seed, int):  # a traced function cannot create its random state on a retrace
            kwargs["seed"] = keras.random.SeedGenerator(seed)  # (FGSM has no random start: run_attack drops it)
        craft = tf.function(craft, reduce_retracing=True)
    return np.concatenate([
        ops.convert_to_numpy(craft(images[i : i + batch_size], labels[i : i + batch_size]))
        for i in range(0, len(images), batch_size)
    ])


def robustness_curve(model, images, labels, eps_values, *, attack="pgd", norm="linf", steps=20, step_size=None,
                     restarts=1, pixel_range=RAW_PIXELS, seed=0, batch_size=256, checks=True) -> dict:
    """Accuracy of ``model`` under ``attack`` at each ε, FGSM alongside for comparison, and the sanity checks.

    Returns:
        A dict with ``attack`` (its full settings), ``clean_accuracy``, ``results`` (one row per ε), ``checks``
        and ``warnings``, plus ``examples``: the adversarial images at the largest ε (NumPy, not JSON).
    """
    check_norm(norm)
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    eps_values = [check_eps(e, norm, images.shape[1:]) for e in eps_values]
    if not eps_values:
        raise ValueError("Invalid eps: expected at least one value. Received: eps=[]")
    low, high = pixel_range
    iterative = attack != "fgsm"
    settings = {"name": attack, "norm": norm, "targeted": False,
                "eps_units": f"fraction of the pixel range [{low:g}, {high:g}]" + (" (L2 norm)" if norm == "l2" else "")}
    if iterative:
        settings.update({"steps": steps, "step_size": step_size if step_size is not None else "2.5 * eps / steps",
                         "restarts": restarts if attack == "pgd" else 1, "random_start": attack == "pgd"})
    else:
        settings.update({"steps": 1, "step_size": "eps", "restarts": 1, "random_start": False})
    options = {"norm": norm, "steps": steps, "step_size": step_size, "restarts": restarts, "pixel_range": pixel_range,
               "seed": seed}
    if attack == "ifgsm":
        options.pop("restarts")

    clean_accuracy = float(np.mean(predict(model, images, batch_size) == labels))
    results, examples = [], None
    for eps in sorted(eps_values):
        adversarial = attack_batches(attack, model, images, labels, eps, batch_size, **options)
        row = {"eps": eps, "eps_pixels": eps * (high - low),
               "accuracy": float(np.mean(predict(model, adversarial, batch_size) == labels))}
        if iterative and norm == "linf":
            fgsm_images = attack_batches("fgsm", model, images, labels, eps, batch_size, pixel_range=pixel_range)
            row["fgsm_accuracy"] = float(np.mean(predict(model, fgsm_images, batch_size) == labels))
        results.append(row)
        examples = adversarial
    report = {"attack": settings, "examples_count": int(len(labels)), "clean_accuracy": clean_accuracy,
              "results": results, "checks": [], "warnings": []}
    if checks:
        report["checks"] = sanity_checks(model, images, labels, report, options, batch_size)
        report["warnings"] = [c["detail"] for c in report["checks"] if not c["passed"]]
    report["examples"] = examples
    return report


def sanity_checks(model, images, labels, report, options, batch_size) -> list[dict]:
    """Signs of gradient masking (Athalye et al., 2018): each check is {name, passed, detail}."""
    checks = []
    rows = report["results"]
    slack = max(SANITY_TOLERANCE, 2.0 / len(labels))  # two examples' worth on small samples
    name = report["attack"]["name"]
    weaker = [r for r in rows if "fgsm_accuracy" in r and r["accuracy"] > r["fgsm_accuracy"] + slack]
    weaker_text = ", ".join(f"{r['eps']:g} ({r['accuracy']:.3f} vs {r['fgsm_accuracy']:.3f})" for r in weaker)
    if any("fgsm_accuracy" in r for r in rows):
        checks.append({
            "name": "iterative_not_weaker_than_fgsm", "passed": not weaker,
            "detail": "ok" if not weaker else (
                f"{name} ({report['attack']['steps']} steps) leaves higher accuracy than one-step FGSM at eps "
                f"{weaker_text}: "
                "the iterative attack is too weak (more steps or restarts) or the gradients are masked."),
        })
    accuracies = [report["clean_accuracy"]] + [r["accuracy"] for r in rows]
    rises = [rows[i]["eps"] for i in range(len(rows)) if accuracies[i + 1] > accuracies[i] + slack]
    checks.append({
        "name": "accuracy_falls_with_eps", "passed": not rises,
        "detail": "ok" if not rises else (
            f"accuracy rises with eps at eps {', '.join(f'{e:g}' for e in rises)}: a larger budget contains every "
            "smaller one, so the attack is failing to find examples it could (gradient masking or too few steps)."),
    })
    norm = options["norm"]
    large_eps = 1.0 if norm == "linf" else math.sqrt(float(np.prod(images.shape[1:])))
    strong = {**options, "steps": max(options["steps"], 10), "restarts": 1}
    adversarial = attack_batches("pgd", model, images, labels, large_eps, batch_size, **strong)
    accuracy = float(np.mean(predict(model, adversarial, batch_size) == labels))
    checks.append({
        "name": "unbounded_attack_reaches_zero", "passed": accuracy <= LARGE_EPS_MAX_ACCURACY, "eps": large_eps,
        "attack": f"pgd, {strong['steps']} steps", "accuracy": accuracy,
        "detail": "ok" if accuracy <= LARGE_EPS_MAX_ACCURACY else (
            f"PGD with eps={large_eps:g} (the whole pixel range) leaves {accuracy:.3f} accuracy; with an unbounded "
            "budget it should reach ~0, so the gradients do not lead the attack (gradient masking)."),
    })
    return checks


# ---------------------------------------------------------------------------------------------------- the report
def robustness_report(path: str, *, attack: str = "pgd", eps=(0.01, 0.03, 0.1, 0.2), out: str = "report",
                      norm: str = "linf", steps: int = 20, step_size: float | None = None, restarts: int = 1,
                      dataset: str | None = None, split: str | None = None, data_dir: str | None = None,
                      limit: int | None = 1000, grid: int = 8, seed: int = 0, batch_size: int = 256) -> dict:
    """Attack the model at ``path`` on a dataset split and write the report files into ``out``.

    Args:
        path: run directory, ``.keras`` file or SavedModel directory (raw 0-255 pixels → logits).
        attack: "pgd", "ifgsm" or "fgsm".
        eps: budgets as fractions of the pixel range (0.1 = 25.5 grey levels).
        norm, steps, step_size, restarts: the attack's settings (see ``kerazoo.adversarial.attacks.pgd``).
        dataset, split, data_dir: default: the run's (or the exported version's) dataset and test split.
        limit: attack only the first ``limit`` examples (None: the whole split).
        grid: examples shown in ``examples.png``.

    Returns:
        The report (also in ``out/robustness.json``).
    """
    from kerazoo import datasets
    from kerazoo.export.evaluate import _resolve_data, _split_arrays

    for value in eps:  # fail before loading anything (the image size is checked again for L2)
        check_eps(value, norm)
    model, fmt = load_attackable(path)
    dataset, split, data_dir = _resolve_data(path, dataset, split, data_dir)
    images, labels = _split_arrays(dataset, split, data_dir, limit)
    curve = robustness_curve(model, images, labels, eps, attack=attack, norm=norm, steps=steps, step_size=step_size,
                             restarts=restarts, seed=seed, batch_size=batch_size)
    adversarial = curve.pop("examples")
    report = {"model": os.path.abspath(path), "format": fmt, "dataset": dataset, "split": split, **curve}
    os.makedirs(out, exist_ok=True)
    atomic_write_text(os.path.join(out, "robustness.json"), json.dumps(report, indent=1) + "\n")
    plot_curve(report, os.path.join(out, "robustness.png"))
    class_names = datasets.info(dataset, data_dir=data_dir).class_names
    count = min(grid, len(images))
    plot_examples(images[:count], adversarial[:count], labels[:count], predict(model, images[:count]),
                  predict(model, adversarial[:count]), class_names, report["results"][-1]["eps"],
                  os.path.join(out, "examples.png"))
    return report


def format_report(report: dict) -> str:
    """The table and the warnings as text (what ``kerazoo robustness`` prints)."""
    a = report["attack"]
    source = f" of {report['dataset']} {report['split']}" if "dataset" in report else ""
    lines = [
        f"{a['name']} ({a['norm']}, {a['steps']} steps, step {a['step_size']}, {a['restarts']} restart(s)) on "
        f"{report['examples_count']} examples{source}; eps as a {a['eps_units']}",
        f"clean accuracy {report['clean_accuracy']:.4f}",
        f"{'eps':>8}{'eps (pixels)':>14}{'accuracy':>11}{'FGSM accuracy':>16}",
    ]
    for r in report["results"]:
        fgsm = f"{r['fgsm_accuracy']:.4f}" if "fgsm_accuracy" in r else "-"
        lines.append(f"{r['eps']:>8g}{r['eps_pixels']:>14.4g}{r['accuracy']:>11.4f}{fgsm:>16}")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curve(report: dict, out_path: str) -> None:
    """Accuracy against ε (clean accuracy at ε = 0), the attack and FGSM."""
    plt = _pyplot()
    rows = report["results"]
    fig, ax = plt.subplots(figsize=(5, 4))
    eps = [0.0] + [r["eps"] for r in rows]
    ax.plot(eps, [report["clean_accuracy"]] + [r["accuracy"] for r in rows], "-o",
            label=f"{report['attack']['name']} ({report['attack']['steps']} steps)")
    if all("fgsm_accuracy" in r for r in rows):
        ax.plot(eps, [report["clean_accuracy"]] + [r["fgsm_accuracy"] for r in rows], "--s", label="fgsm")
    ax.set_xlabel(f"eps ({report['attack']['eps_units']})")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def plot_examples(clean, adversarial, labels, clean_pred, adv_pred, class_names, eps, out_path,
                  pixel_range=RAW_PIXELS) -> None:
    """A grid: one column per example, rows clean (true / predicted label), perturbation (scaled to its own
    extremes, grey = 0), adversarial (predicted label)."""
    plt = _pyplot()
    low, high = pixel_range
    count = len(clean)
    fig, axes = plt.subplots(3, count, figsize=(1.6 * count, 5.4), squeeze=False)
    delta = adversarial - clean
    scale = float(np.max(np.abs(delta))) or 1.0

    def show(ax, image, title, color="black"):
        image = image[..., 0] if image.shape[-1] == 1 else image
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(title, fontsize=7, color=color)
        ax.axis("off")

    def name(index):
        return class_names[index] if index < len(class_names) else str(index)

    for i in range(count):
        show(axes[0, i], (clean[i] - low) / (high - low), f"{name(labels[i])}\n→ {name(clean_pred[i])}")
        show(axes[1, i], 0.5 + 0.5 * delta[i] / scale, "perturbation")
        show(axes[2, i], (adversarial[i] - low) / (high - low), f"→ {name(adv_pred[i])}",
             "red" if adv_pred[i] != labels[i] else "black")
    fig.suptitle(f"clean (true → predicted) / perturbation / adversarial at eps={eps:g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)

"""Model cards: what a model is (size, FLOPs, input, preprocessing, paper) and every accuracy the project measured
with it, each with the exact recipe (config file, overrides, seed, epochs) and the machine it ran on.

    kerazoo models show resnet20                 # the card on the terminal
    python -m kerazoo.applications.cards docs/models   # docs/models/NAME.md for every model

A *measured result* is any object in ``bench/results/*.json`` that names a model (its ``model`` field, or the key
it sits under is a registered name) and holds its clean test accuracy (``test_accuracy``, as ``train`` writes it
in ``summary.json``, or ``top1_accuracy``); accuracies under attack or after compression are other figures. Recipe
facts (``config``, ``overrides``/``recipe``, ``seed``, ``epochs``) are taken from that object or the nearest one
above it, and the date, machine and command from the file. A bench that trains a run records it with
:func:`run_result`, which copies the recipe from the run directory itself, so the card can be reproduced with
``kerazoo train --config CONFIG --seed SEED ...`` and checked with ``kerazoo evaluate RUN``. Recipe files in
``configs/`` that train the model but have no measured result yet are listed as such: a card never shows a figure
that nobody measured.

An installed wheel has no ``bench/``: it carries ``measured_results.json``, the measured results as read from the
checkout's ``bench/results`` when the package was built (``python -m kerazoo.applications.cards --snapshot``
writes it; a test keeps it equal to the checkout's), so ``kerazoo models NAME`` shows the same card from either.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import yaml

from kerazoo.applications.registry import get_entry, list_models, model_info

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
RESULTS_DIR = os.path.join(REPO_ROOT, "bench", "results")
SNAPSHOT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measured_results.json")
CONFIGS_DIR = os.path.join(PACKAGE_DIR, "configs")  # the shipped recipes; a checkout's configs/ links here
DOCS_DIR = os.path.join(REPO_ROOT, "docs", "models")
ACCURACY_KEYS = ("test_accuracy", "top1_accuracy")  # clean test-split accuracy of a trained model
RECIPE_KEYS = ("config", "overrides", "recipe", "seed", "epochs", "dataset", "split")
PREPROCESSING = ("raw float32 pixels 0-255 ([batch, H, W, C]) in; the trained model normalizes them itself by the "
                 "training split's per-channel mean/std (its first layer), so exported versions take raw pixels and "
                 "`serving_bytes` takes encoded JPEG/PNG files")


def run_result(run_dir: str, metrics: dict | None = None, *, config_file: str | None = None) -> dict:
    """A measured result of one trained run, for a bench's JSON: model, dataset, recipe, seed, epochs and the
    test figures (``metrics``, default: the run's ``summary.json``).

    Reads the run directory's files themselves (``config.yaml`` is written resolved, every field present), so the
    zoo needs nothing of the training service that wrote them."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a kerazoo run directory: it has no config.yaml.")
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if metrics is None:
        with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
            metrics = json.load(f)
    accuracy = metrics.get("test_accuracy", metrics.get("accuracy"))  # summary.json: the test split's "accuracy"
    return {
        "model": config["model"]["name"], "dataset": config["data"]["dataset"], "split": config["data"]["test_split"],
        "config": config_file or path, "seed": config["seed"],
        "epochs": config["epochs"], "test_accuracy": accuracy, "run": os.path.abspath(run_dir),
    }


def run_card_fields(model_name: str, model, run_dir: str) -> dict:
    """The card facts of an exported run (written into the version's ``kerazoo.json``, shown in server metadata)."""
    from kerazoo.applications.flops import count_flops

    fields = {"model": model_name, "params": int(model.count_params()), "input_shape": list(model.input_shape[1:]),
              "preprocessing": PREPROCESSING}
    try:
        fields["flops"] = int(count_flops(model))
    except Exception:  # a layer the counter does not know: the card says nothing rather than a wrong figure
        fields["flops"] = None
    try:
        entry = get_entry(model_name)
        fields.update(family=entry.family, paper=entry.paper, year=entry.year)
    except ValueError:
        pass
    summary = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary):
        with open(summary, encoding="utf-8") as f:
            data = json.load(f)
        fields["measured"] = {f"test_{k}": data[k] for k in ("accuracy", "loss") if isinstance(data.get(k), (int, float))}
    return fields


# -- collecting measured results --------------------------------------------------------------------------------


def _accuracy(node: dict):
    for key in ACCURACY_KEYS:
        value = node.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return key, float(value)
    return None, None


def _walk(node, path: tuple, model: str | None, recipe: dict, names: set, found: list) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, (*path, str(i)), model, recipe, names, found)
        return
    if not isinstance(node, dict):
        return
    # A figure belongs to a model only when it says so: its own "model" field or a key that is a model's name
    # (a figure under a bench's top-level "model" may be a variant or a baseline of another kind).
    if isinstance(node.get("model"), str):
        model = node["model"]
    elif path and path[-1] in names:
        model = path[-1]
    elif path:
        model = None
    recipe = {**recipe, **{k: node[k] for k in RECIPE_KEYS if k in node and not isinstance(node[k], dict)}}
    key, value = _accuracy(node)
    if model is not None and key is not None:
        found.append({"model": model, "where": ".".join(path) or "(top level)", "metric": key, "value": value,
                      **recipe})
    for child_key, child in node.items():
        if isinstance(child, (dict, list)):
            _walk(child, (*path, str(child_key)), model, recipe, names, found)


def measured_results(results_dir: str | None = None) -> list[dict]:
    """Every measured accuracy in the bench result files, each with its recipe, source, date and machine.
    ``results_dir`` None: the checkout's ``bench/results``, or (installed) the package's snapshot of it."""
    if results_dir is None:
        if not os.path.isdir(RESULTS_DIR):
            with open(SNAPSHOT_PATH, encoding="utf-8") as f:
                return json.load(f)
        results_dir = RESULTS_DIR
    names = set(list_models())
    results = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict):
            continue
        found = []
        _walk(document, (), None, {}, names, found)
        for result in found:
            result.update(source=os.path.basename(path), date=document.get("date"),
                          machine=document.get("machine"), command=document.get("command"))
        results += found
    return results


def recipe_configs(configs_dir: str = CONFIGS_DIR) -> dict[str, list[str]]:
    """Recipe files by the model they train: {model name: [config paths]}."""
    recipes: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(configs_dir, "*.yaml"))):
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        name = (data.get("model") or {}).get("name") if isinstance(data, dict) else None
        if isinstance(name, str):
            recipes.setdefault(name.lower(), []).append(path)
    return recipes


# -- the card -----------------------------------------------------------------------------------------------------


def model_card(name: str, *, results_dir: str | None = None, configs_dir: str = CONFIGS_DIR) -> dict:
    """Everything a card shows: registry facts, preprocessing, measured results with recipes, untried recipes."""
    info = model_info(name)
    results = [r for r in measured_results(results_dir) if r["model"].lower() == info["name"]]
    configs = recipe_configs(configs_dir).get(info["name"], [])
    used = {os.path.basename(str(r.get("config", ""))) for r in results}
    used |= {os.path.basename(c) for r in results for c in configs if os.path.basename(c) in str(r.get("command"))}
    return {
        **{k: info[k] for k in ("name", "family", "task", "paper", "year", "input_shape", "params", "flops",
                                "reported_top1", "dataset")},
        "preprocessing": PREPROCESSING,
        "results": results,
        "recipes_without_result": [c for c in configs if os.path.basename(c) not in used],
        "pretrained": pretrained_weights(info["name"]),
    }


def pretrained_weights(name: str) -> list[dict]:
    """The model's pretrained tags (``weights=TAG``) with source, license, preprocessing and the source's own
    published ImageNet figures (not measured here)."""
    from kerazoo.applications import pretrained

    rows = []
    for tag in pretrained.weight_tags(name):
        p = tag.preprocessing
        recipe = f"{p.mode}" + (f", resize {p.resize} / crop {p.crop} ({p.interpolation})" if p.crop else "")
        rows.append({"tag": tag.tag, "default": tag.default, "source": tag.source, "license": tag.license,
                     "include_top": tag.include_top, "input_shape": list(tag.input_shape), "preprocessing": recipe,
                     "top1": tag.top1, "top5": tag.top5, "link": tag.metrics_link, "file": tag.filename})
    return rows


def _source_figures(row: dict) -> str:
    if row["top1"] is None:
        return "—"
    top5 = "" if row["top5"] is None else f" / {row['top5']:.1f}"
    return f"{row['top1']:.1f}{top5} % ({row['source']}'s figure)"


def _relative(path) -> str:
    path = str(path)
    if os.path.dirname(os.path.abspath(path)) == CONFIGS_DIR:  # a shipped recipe: the name `--config` takes
        return f"configs/{os.path.basename(path)}"
    return os.path.relpath(path, REPO_ROOT) if os.path.isabs(path) and path.startswith(REPO_ROOT) else path


def _machine(machine) -> str:
    if not isinstance(machine, dict):
        return str(machine or "unknown")
    cpus = machine.get("cpus") or machine.get("cores")
    return f"{cpus} CPUs, {machine.get('processor') or machine.get('cpu', '')}, {machine.get('platform', '')}".strip()


def format_accuracy(value: float) -> str:
    """Accuracies are stored as fractions (0.9123) or percents (91.23); cards show percents."""
    return f"{value * 100 if value <= 1.0 else value:.2f} %"


def card_markdown(card: dict) -> str:
    """The card as a Markdown page (docs/models/NAME.md)."""
    shape = "x".join(str(d) for d in card["input_shape"])
    reported = "—" if card["reported_top1"] is None else f"{card['reported_top1']:.2f} % ({card['dataset']})"
    lines = [
        f"# {card['name']}", "",
        "Generated by `python -m kerazoo.applications.cards docs/models` from the registry, `bench/results/*.json`"
        " and `configs/`; do not edit by hand.", "",
        "| fact | value |", "| --- | --- |",
        f"| family | {card['family']} |", f"| task | {card['task']} |",
        f"| paper | {_paper(card)} |",
        f"| parameters | {card['params']:,} |", f"| FLOPs | {card['flops'] / 1e9:.3f} G (2 x multiply-adds) |",
        f"| input size | {shape} (the paper's) |", f"| paper top-1 | {reported} |",
        f"| preprocessing | {card['preprocessing']} |", "",
        "## Measured results", "",
    ]
    if not card["results"]:
        lines.append("No measured result yet.")
    else:
        lines += ["| accuracy | dataset / split | recipe | seed | epochs | machine | date | source |",
                  "| ---: | --- | --- | ---: | ---: | --- | --- | --- |"]
        for r in card["results"]:
            extra = r.get("overrides") or r.get("recipe")
            recipe = _relative(r["config"]) if r.get("config") else ("TrainConfig defaults +" if extra else "—")
            if extra:
                recipe += " " + " ".join(f"`{o}`" for o in (extra if isinstance(extra, list) else [extra]))
            where = " / ".join(str(r[k]) for k in ("dataset", "split") if r.get(k)) or "—"
            lines.append(
                f"| {format_accuracy(r['value'])} ({r['metric']}) | {where} | {recipe} | {r.get('seed', '—')} | "
                f"{r.get('epochs', '—')} | {_machine(r.get('machine'))} | {r.get('date') or '—'} | "
                f"`{r['source']}` {r['where']} (`{r.get('command') or '—'}`) |"
            )
    if card.get("pretrained"):
        lines += ["", "## Pretrained weights", "",
                  "`weights=TAG` (or `weights=\"imagenet\"` for the one marked default); top-1 / top-5 on ImageNet-1k "
                  "are the source's published figures, not measured here.", "",
                  "| tag | source | license | input | preprocessing (inside the model) | top-1 / top-5 | figures from |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in card["pretrained"]:
            tag = f"`{row['tag']}`" + (" (default)" if row["default"] else "") + ("" if row["include_top"] else " (no top)")
            shape = "x".join(str(d) for d in row["input_shape"])
            lines.append(f"| {tag} | {row['source']} | {row['license'] or '—'} | {shape} | {row['preprocessing']} | "
                         f"{_source_figures(row)} | {row['link'] or '—'} |")
    if card["recipes_without_result"]:
        lines += ["", "## Recipes with no measured result yet", ""]
        lines += [f"- `{_relative(c)}`: `kerazoo train --config {_relative(c)} --out runs/{card['name']}`"
                  for c in card["recipes_without_result"]]
    return "\n".join(lines) + "\n"


def card_text(card: dict) -> str:
    """The card for a terminal (``kerazoo models show NAME``)."""
    shape = "x".join(str(d) for d in card["input_shape"])
    lines = [f"{card['name']} ({card['family']}, {card['task']})", f"  paper:         {_paper(card)}",
             f"  parameters:    {card['params']:,}", f"  FLOPs:         {card['flops'] / 1e9:.3f} G",
             f"  input size:    {shape}", f"  preprocessing: {card['preprocessing']}",
             f"  paper top-1:   {'—' if card['reported_top1'] is None else card['reported_top1']} ({card['dataset']})",
             "  measured:"]
    if not card["results"]:
        lines.append("    no measured result yet")
    for r in card["results"]:
        extra = r.get("overrides") or r.get("recipe") or []
        recipe = _relative(r["config"]) if r.get("config") else "TrainConfig defaults"
        recipe += "".join(f" {o}" for o in (extra if isinstance(extra, list) else [extra]))
        lines.append(f"    {format_accuracy(r['value'])} {r['metric']} on {r.get('dataset', '?')} — recipe "
                     f"{recipe}, seed {r.get('seed', '?')}, epochs {r.get('epochs', '?')}, "
                     f"{_machine(r.get('machine'))}, {r.get('date') or '?'} ({r['source']}: {r['where']})")
    for config in card["recipes_without_result"]:
        lines.append(f"    {_relative(config)}: no measured result yet")
    if card.get("pretrained"):
        lines.append("  pretrained weights (weights=TAG; top-1 / top-5 as the source publishes them):")
    for row in card.get("pretrained", []):
        default = " (default: weights='imagenet')" if row["default"] else ""
        lines.append(f"    {row['tag']}{default}: {row['source']}, {row['license'] or 'license ?'}, "
                     f"{'x'.join(str(d) for d in row['input_shape'])}, {row['preprocessing']}, "
                     f"{_source_figures(row)}{' ' + row['link'] if row['link'] and row['top1'] else ''}")
    return "\n".join(lines)


def write_cards(out_dir: str, names=None, *, results_dir: str | None = None, configs_dir: str = CONFIGS_DIR) -> list:
    """Write ``OUT_DIR/NAME.md`` for each model (default: every registered one); returns the paths."""
    from kerazoo.io import atomic_write_text

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in names or list_models():
        path = os.path.join(out_dir, f"{name}.md")
        atomic_write_text(path, card_markdown(model_card(name, results_dir=results_dir, configs_dir=configs_dir)))
        paths.append(path)
    return paths


def _paper(card: dict) -> str:
    """The paper's reference with its year (once: some references already end with it)."""
    year = str(card["year"])
    return card["paper"] if year in card["paper"] else f"{card['paper']} ({year})"


def write_snapshot(path: str = SNAPSHOT_PATH, results_dir: str = RESULTS_DIR) -> str:
    """Write the measured results of ``results_dir`` as the package's snapshot (what an installed wheel shows)."""
    from kerazoo.io import atomic_write_text

    atomic_write_text(path, json.dumps(measured_results(results_dir), indent=0, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["--snapshot"]:
        print(write_snapshot())
    else:
        for written in write_cards(sys.argv[1] if len(sys.argv) > 1 else DOCS_DIR):
            print(written)

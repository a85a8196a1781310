"""The package layers of docs/architecture.md hold: import-linter's contracts (.importlinter) are all kept, one breaks
when a forbidden import is injected, and no package imports another package's private names."""

from __future__ import annotations

import ast
import configparser
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"


def lint_imports(root: pathlib.Path, config: pathlib.Path = CONFIG) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root``, through this interpreter (no console script on PATH needed)."""
    try:
        import importlinter  # noqa: F401
    except ModuleNotFoundError:
        pytest.fail("import-linter is not installed: pip install -e '.[dev]' (it checks the import contracts).")
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
               "--no-cache", "--config", str(config)]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def contracts(config: pathlib.Path = CONFIG) -> dict[str, dict]:
    parser = configparser.ConfigParser()
    parser.read(config)
    prefix = "importlinter:contract:"
    return {s[len(prefix):]: dict(parser[s]) for s in parser.sections() if s.startswith(prefix)}


def listed(value: str) -> set[str]:
    return {line.strip() for line in value.splitlines() if line.strip()}


def top_level_modules() -> set[str]:
    """kerazoo.X for every subpackage and module of the package (the entry point __main__ aside)."""
    names = set()
    for path in (ROOT / "kerazoo").iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(f"kerazoo.{path.name}")
        elif path.suffix == ".py" and not path.name.startswith("__"):
            names.add(f"kerazoo.{path.stem}")
    return names


def test_all_contracts_kept():
    result = lint_imports(ROOT)
    count = len(contracts())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {count} kept, 0 broken." in result.stdout, result.stdout
    assert count >= 4


def test_a_forbidden_import_breaks_its_contract(tmp_path):
    """A copy of the package with the zoo importing the training service: the zoo and layers contracts break and
    name the offending module; the others stay kept."""
    shutil.copytree(ROOT / "kerazoo", tmp_path / "kerazoo", ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    (tmp_path / "kerazoo" / "applications" / "injected.py").write_text(
        "def run_config(run_dir):\n    from kerazoo.training.run import load_run_config\n\n"
        "    return load_run_config(run_dir)\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Contracts: 3 kept, 2 broken." in result.stdout, result.stdout
    assert "kerazoo.applications.injected -> kerazoo.training.run" in result.stdout


def test_serving_contract_names_every_other_module():
    """The server imports nothing of kerazoo outside itself: a new top-level module must join the forbidden list
    (import-linter refuses a listed module that does not exist, so the list is written out, not globbed)."""
    forbidden = listed(contracts()["serving"]["forbidden_modules"])
    assert forbidden == top_level_modules() - {"kerazoo.serving"}


def test_layers_contract_places_every_package():
    """Every top-level package sits in a layer (io, saving, runtime and plugins are shared helpers; serving stands
    alone under its own contract)."""
    layers = contracts()["layers"]["layers"]
    placed = {name.strip(" ()") for line in listed(layers) for name in line.split(":")}
    helpers = {"kerazoo.io", "kerazoo.saving", "kerazoo.runtime", "kerazoo.plugins", "kerazoo.runs", "kerazoo.serving"}
    assert top_level_modules() - helpers <= placed, sorted(top_level_modules() - helpers - placed)


def test_run_directory_owner_imports_only_io_and_saving():
    """kerazoo.runs (the run directory owner) may import kerazoo.io and kerazoo.saving alone: its contract forbids
    every other top-level module, and a new module must join that list."""
    forbidden = listed(contracts()["runs"]["forbidden_modules"])
    assert forbidden == top_level_modules() - {"kerazoo.runs", "kerazoo.io", "kerazoo.saving"}


# --------------------------------------------------------------------------------------------------- private names


def package_of(module: str) -> str:
    """kerazoo.X: the package a module belongs to (a top-level module is its own package)."""
    return ".".join(module.split(".")[:2])


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(root: pathlib.Path) -> list[str]:
    """``from kerazoo.x import _name``, ``kerazoo.x._module`` or ``x._name`` (``x`` an imported kerazoo module)
    where kerazoo.x is another package than the importing file's, as 'file:line: what' lines."""
    found = []
    for path in sorted((root / "kerazoo").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = package_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases = {}  # local name → the kerazoo module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not alias.name.startswith("kerazoo."):
                        continue
                    aliases[alias.asname or alias.name] = alias.name
                    if package_of(alias.name) != package and any(map(is_private, alias.name.split("."))):
                        found.append(f"{path.relative_to(root)}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("kerazoo."):
                if package_of(node.module) == package:
                    continue
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    if any(map(is_private, node.module.split("."))) or is_private(alias.name):
                        found.append(f"{path.relative_to(root)}:{node.lineno}: from {node.module} import {alias.name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and is_private(node.attr)
                    and node.value.id in aliases and package_of(aliases[node.value.id]) != package):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_package_imports_another_packages_private_names():
    assert private_imports(ROOT) == []


def test_private_name_check_finds_each_form(tmp_path):
    package = tmp_path / "kerazoo"
    for sub in ("export", "adversarial"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "export" / "evaluate.py").write_text("def _resolve_data():\n    pass\n")
    (package / "export" / "inner.py").write_text("from kerazoo.export.evaluate import _resolve_data\n")  # same package
    (package / "adversarial" / "robustness.py").write_text(
        "from kerazoo.export.evaluate import _resolve_data\n"
        "import kerazoo.export._hidden\n"
        "from kerazoo.export import evaluate\n"
        "evaluate._resolve_data()\n"
        "evaluate.__name__\n")
    assert private_imports(tmp_path) == [
        "kerazoo/adversarial/robustness.py:1: from kerazoo.export.evaluate import _resolve_data",
        "kerazoo/adversarial/robustness.py:2: import kerazoo.export._hidden",
        "kerazoo/adversarial/robustness.py:4: evaluate._resolve_data",
    ]

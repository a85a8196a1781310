"""The kerazoo.rl modules import each other without a cycle (the import graph, read from the source, is acyclic)."""

import ast
import pathlib

import kerazoo.rl

RL = pathlib.Path(kerazoo.rl.__file__).parent


def rl_imports(path: pathlib.Path) -> set[str]:
    """The kerazoo.rl modules ``path`` imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "kerazoo.rl":
            names.update(f"kerazoo.rl.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerazoo.rl."):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("kerazoo.rl."))
    modules = {f"kerazoo.rl.{p.stem}" for p in RL.glob("*.py")}
    return names & modules


def test_rl_import_graph_is_acyclic():
    graph = {f"kerazoo.rl.{p.stem}": rl_imports(p) for p in RL.glob("*.py") if p.stem != "__init__"}
    assert graph["kerazoo.rl.dqn"] >= {"kerazoo.rl.run", "kerazoo.rl.networks"}  # the graph is read at all
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(path + [module])}"
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            visit(target, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_common_module_is_gone():
    assert not (RL / "common.py").exists()


def test_arguments_load_no_tensorflow():
    """`kerazoo rl train --help` and argument checks read kerazoo.rl.arguments: no TensorFlow or Keras behind it."""
    import subprocess
    import sys

    code = "import sys, kerazoo.rl.arguments; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

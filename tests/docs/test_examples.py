"""Every documented example runs: fenced ```python and ```bash blocks in README.md and docs/**/*.md, and every
script in examples/.

Tiers and markers:

- default tier (cheap, every block): a python block must compile; every ``kerazoo ...`` / ``python -m kerazoo ...``
  command of a bash block must parse with the real CLI parser (verb and flags exist); a ``python path.py`` command
  must name a script that exists; every examples/ script must answer ``--help``.
- slow tier (``@pytest.mark.slow``; CI): every block is *run*. Python blocks run in a subprocess, in a temporary
  working directory with the repository on PYTHONPATH; the runnable commands of a bash block (lines starting with
  ``kerazoo`` or ``python``; ``pip``, ``docker``, ``curl`` ... lines are documentation only) run with ``.venv/bin``
  first on PATH. The working directory links the repository's ``configs/``, ``bench/``, ``examples/``, ``serving/``
  and ``docs/``, and ``$KERAZOO_DATA_DIR`` points at generated data of Fashion-MNIST's format and sizes (60,000 /
  10,000 images, so the default splits exist), so nothing downloads.
- a block whose first line is ``# needs: runs/NAME`` gets a tiny LeNet-5 run at ``runs/NAME`` first (made once per
  session); ``# needs: <anything else>`` (a server, a big download, a GPU) is skipped with that reason; ``# slow``
  documents that a block is expensive (it runs in the slow tier like every block).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FENCE = re.compile(r"^```(python|bash|sh|shell|console)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^\s*#\s*(needs:\s*(?P<needs>.+?)|slow)\s*$")
RUN_NEEDS = re.compile(r"^runs/([\w.-]+)$")
LINKED = ("configs", "bench", "examples", "serving", "docs")


@dataclasses.dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def marker(self) -> str | None:
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        match = MARKER.match(first)
        return match.group(1) if match else None

    @property
    def needs(self) -> list[str]:
        match = MARKER.match(next((line for line in self.code.splitlines() if line.strip()), ""))
        if not match or not match.group("needs"):
            return []
        return [n.strip() for n in re.split(r"[,;]", match.group("needs")) if n.strip()]


def doc_pages() -> list[str]:
    pages = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                                recursive=True))]
    return [p for p in pages if os.path.exists(p)]


def collect_blocks() -> list[Block]:
    blocks = []
    for page in doc_pages():
        with open(page, encoding="utf-8") as f:
            text = f.read()
        for match in FENCE.finditer(text):
            language = "python" if match.group(1) == "python" else "bash"
            line = text.count("\n", 0, match.start()) + 1
            blocks.append(Block(os.path.relpath(page, ROOT), line, language, match.group(2)))
    return blocks


def commands(block: Block) -> list[str]:
    """The runnable commands of a bash block (continuation lines joined, prompts stripped)."""
    joined, current = [], ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        joined.append((current + line.strip()).strip())
        current = ""
    return [c for c in joined if re.match(r"^(kerazoo|python3?)\s", c)]


def script_names() -> list[str]:
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "examples", "*.py")))


# Blocks that fail now, reported to their pages' owners (strict: the test says so when one is fixed).
KNOWN_FAILURES = {}  # block id -> reason, for a documented example that is known to fail (strict xfail)

BLOCKS = collect_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language == "python"]
BASH_BLOCKS = [b for b in BLOCKS if b.language == "bash" and commands(b)]


def test_the_collector_finds_the_documented_examples():
    assert any(b.page == "README.md" for b in BLOCKS)
    assert {"docs/serving.md", "docs/training.md"} <= {b.page for b in BLOCKS}
    assert PYTHON_BLOCKS and BASH_BLOCKS and script_names()
    block = Block("x.md", 1, "bash", "# needs: runs/lenet, a server\nkerazoo evaluate runs/lenet \\\n  --limit 5\n"
                                     "pip install kerazoo\n$ python -m kerazoo models\n")
    assert block.needs == ["runs/lenet", "a server"]
    assert commands(block) == ["kerazoo evaluate runs/lenet --limit 5", "python -m kerazoo models"]


# -- default tier: cheap static checks of every block --------------------------------------------------------------


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_python_block_compiles(block):
    compile(block.code, block.id, "exec")


@pytest.mark.parametrize("block", BASH_BLOCKS, ids=lambda b: b.id)
def test_bash_block_commands_exist(block, request):
    from kerazoo.cli import build_parser, parse

    if block.id in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_FAILURES[block.id], strict=True))

    parser = build_parser()
    for command in commands(block):
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        words = list(lexer)
        words = words[:next((i for i, w in enumerate(words) if w and set(w) <= set("|&;<>()")), len(words))]
        if words[0] == "kerazoo":
            arguments = words[1:]
        elif words[1:3] == ["-m", "kerazoo"]:
            arguments = words[3:]
        elif len(words) > 1 and words[1].endswith(".py"):
            assert os.path.exists(os.path.join(ROOT, words[1])), f"{block.id}: no script {words[1]}"
            continue
        else:
            continue  # python -m some.module, python -c ...: checked when run
        if not arguments or "--help" in arguments or "-h" in arguments:
            continue
        try:
            parse(parser, arguments)
        except SystemExit:
            pytest.fail(f"{block.id}: `{command}` does not parse with the kerazoo CLI")


TRAINING = re.compile(r"^kerazoo (train|sequence train|caption train|rl train|search)\s")
RUN_OUT = re.compile(r"\s--out[ =](runs/[\w.-]+)")


def test_a_page_writes_each_run_directory_with_one_command():
    """A reader runs a page top to bottom: two different training commands writing the same runs/NAME would have
    the second refuse the first's run (its config differs)."""
    writers = {}
    for block in BASH_BLOCKS:
        for command in commands(block):
            out = RUN_OUT.search(command)
            if out and TRAINING.match(command):
                writers.setdefault((block.page, out.group(1)), {}).setdefault(command.split("#")[0].strip(),
                                                                              block.id)
    shared = {f"{page} {run}": sorted(ids.values()) for (page, run), ids in writers.items() if len(ids) > 1}
    assert not shared, f"run directories written by different commands on one page: {shared}"


@pytest.mark.parametrize("script", script_names())
def test_example_script_answers_help(script):
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, env=_env(None))
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr[-2000:]


# -- slow tier: run every block --------------------------------------------------------------------------------


def _env(data_dir) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", MPLBACKEND="Agg")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    if data_dir:
        env["KERAZOO_DATA_DIR"] = data_dir
    return env


@pytest.fixture(scope="session")
def docs_workdir(tmp_path_factory, idx_data_dir):
    """A working directory like a checkout (configs/, bench/, ... linked) with tiny data and a tiny runs/ maker."""
    workdir = tmp_path_factory.mktemp("docs_workdir")
    for name in LINKED:
        os.symlink(os.path.join(ROOT, name), workdir / name)
    made = {}

    def make_run(name: str) -> None:
        if name in made:
            return
        from kerazoo.training import load_config, train

        config = load_config(overrides=[
            "model.name=lenet5", f"data.data_dir={idx_data_dir}", "data.train_split=train[:80]",
            "data.val_split=train[80:]", "data.batch_size=16", "data.augment=[]", "epochs=1", "strategy=default",
            "jit_compile=false"])
        made[name] = train(config, str(workdir / "runs" / name), verbose=0)

    return workdir, make_run


def _prepare(block: Block, docs_workdir) -> str:
    workdir, make_run = docs_workdir
    for need in block.needs:
        match = RUN_NEEDS.match(need)
        if not match:
            pytest.skip(f"{block.id} needs {need}")
        make_run(match.group(1))
    return str(workdir)


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_python_block_runs(block, docs_workdir, full_size_data_dir, tmp_path):
    workdir = _prepare(block, docs_workdir)
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=workdir,
                            timeout=600, env=_env(full_size_data_dir))
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("block", BASH_BLOCKS, ids=lambda b: b.id)
def test_bash_block_runs(block, docs_workdir, full_size_data_dir):
    workdir = _prepare(block, docs_workdir)
    script = "set -e\n" + "\n".join(commands(block))
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=workdir, timeout=600,
                            env=_env(full_size_data_dir))
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"

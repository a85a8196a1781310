"""The command starts fast and quietly: --help and mistakes answer without importing TensorFlow, TensorFlow's
start-up lines are hidden unless -v asks for them, --quiet leaves results and errors."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_UP_LINES = ("absl::InitializeLog", "port.cc", "cudart_stub.cc", "cpu_feature_guard", "cuda_platform.cc")


def python(code: str, *, env=None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def kerazoo(*argv, env=None) -> subprocess.CompletedProcess:
    environment = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "PYTHONPATH": REPO,
                   **(env or {})}  # the command's own TensorFlow log settings, not the test suite's
    return subprocess.run([sys.executable, "-m", "kerazoo", *argv], capture_output=True, text=True, env=environment,
                          timeout=300)


def test_help_of_every_verb_imports_no_tensorflow():
    result = python("""
        import contextlib, io, json, sys
        from kerazoo.cli import build_parser
        parser = build_parser()
        verbs = parser._subparsers._group_actions[0].choices
        helps = {}
        for verb in ["", *verbs]:
            text = io.StringIO()
            with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
                build_parser().parse_args([verb, "--help"] if verb else ["--help"])
            helps[verb] = text.getvalue()
        print(json.dumps({"helps": helps, "loaded": sorted(m for m in ("tensorflow", "keras", "jax", "torch")
                                                            if m in sys.modules)}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loaded"] == []
    assert len(report["helps"]) >= 20 and all("usage: kerazoo" in text for text in report["helps"].values())


MISTAKES = [
    (["train", "resnt20", "--out", "R"], "Unknown model name 'resnt20'. Did you mean: resnet20"),
    (["train", "lenet5", "--dataset", "fashon_mnist", "--out", "R"], "Did you mean: fashion_mnist"),
    (["train", "lenet5", "--backbone", "resnet2O", "--out", "R"], "Unknown model name 'resnet2O'"),
    (["train", "--config", "fashion_lenet", "--out", "R"], "Did you mean: fashion_lenet5"),
    (["train", "lenet5", "optimizer.lrr=1", "--out", "R"], "Unknown config field 'optimizer.lrr'"),
    (["train", "lenet5", "--strategy", "mirorred", "--out", "R"], "invalid choice: 'mirorred'"),
    (["train", "lenet5", "strategy=mirorred", "--out", "R"], "Config field 'strategy' must be one of"),
    (["train", "lenet5", "--data-dir", "NOWHERE", "--out", "R"], "--data-dir 'NOWHERE' does not exist"),
    (["train", "lenet5", "--init-from", "NOWHERE", "--out", "R"], "model.init_from (--init-from) 'NOWHERE'"),
    (["doctor", "lenett5"], "Unknown model name 'lenett5'"),
    (["search", "resnt20", "--param", "optimizer.lr=1e-3:1"], "Unknown model name"),
    (["models", "resnt20"], "Unknown model name 'resnt20'"),
    (["evaluate", "models/m/1", "--dataset", "fashon_mnist"], "Did you mean: fashion_mnist"),
]


def test_mistakes_answer_in_one_line_before_tensorflow_loads(tmp_path):
    result = python(f"""
        import contextlib, io, json, sys
        from kerazoo.cli import main
        answers = []
        for argv in {json.dumps([m[0] for m in MISTAKES])}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as exit:
                    code = exit.code
            answers.append([code, err.getvalue(), "tensorflow" in sys.modules])
        print(json.dumps(answers))
    """)
    assert result.returncode == 0, result.stderr
    for (argv, expected), (code, err, tensorflow_loaded) in zip(MISTAKES, json.loads(result.stdout)):
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert not tensorflow_loaded, argv
    assert not os.path.exists(tmp_path / "R")


def test_version():
    from kerazoo import __version__

    result = kerazoo("--version")
    assert result.returncode == 0 and result.stdout.startswith(f"kerazoo {__version__} (tensorflow 2.")


def test_tensorflow_start_up_lines_are_hidden():
    result = kerazoo("models", "lenet5")
    assert result.returncode == 0 and "parameters:    61,706" in result.stdout, result.stderr
    assert not any(line in result.stderr for line in START_UP_LINES), result.stderr


@pytest.mark.slow
def test_verbose_shows_them_and_quiet_leaves_only_results(tmp_path, idx_data_dir):
    result = kerazoo("models", "lenet5", "-v")
    assert result.returncode == 0 and "absl::InitializeLog" in result.stderr
    train = ["train", "lenet5", "--data-dir", idx_data_dir, "--epochs", "1", "--batch-size", "16", "--limit", "32",
             "data.val_split=train[80:]", "data.augment=[]", "--out"]
    normal = kerazoo(*train, str(tmp_path / "normal"))
    assert normal.returncode == 0 and "kerazoo: training lenet5" in normal.stderr, normal.stderr
    quiet = kerazoo("--quiet", *train, str(tmp_path / "quiet"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout.strip() == f"run written to {tmp_path / 'quiet'}"

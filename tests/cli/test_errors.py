"""A user's mistake is one line on stderr and exit code 2, never a traceback; a bug keeps its traceback."""

import os
import socket

import pytest

from kerazoo.cli import main, user_error


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err):
    """stderr without the stage lines (``kerazoo: ...`` progress that long verbs print before they fail)."""
    return [line for line in err.strip().splitlines() if not line.startswith("kerazoo: ")]


def assert_one_line(code, err, *fragments):
    assert code == 2, err
    assert len(error_lines(err)) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_malformed_yaml_config(capsys, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("optimizer:\n  lr: [0.1,\n")
    code, _, err = run(capsys, "train", "lenet5", "--config", str(config), "--out", str(tmp_path / "r"))
    assert_one_line(code, err, f"Malformed YAML in {config} at line 3", "kerazoo train: error:")


def test_malformed_override_value(capsys, tmp_path):
    code, _, err = run(capsys, "train", "lenet5", "optimizer.lr=[1,", "--out", str(tmp_path / "r"))
    assert_one_line(code, err, "kerazoo train: error:")


def test_out_naming_an_existing_file(capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, _, err = run(capsys, "train", "lenet5", "--out", str(target))
    assert_one_line(code, err, f"--out {str(target)!r} is an existing file")
    assert target.read_text() == "mine"


@pytest.mark.parametrize("verb", [["train", "lenet5", "--out", "{tmp}/r"], ["evaluate", "{tmp}", "--dataset", "mnist"]])
def test_data_dir_that_does_not_exist(capsys, tmp_path, verb):
    argv = [a.format(tmp=tmp_path) for a in verb]
    code, _, err = run(capsys, *argv, "--data-dir", str(tmp_path / "nowhere"))
    assert_one_line(code, err, f"--data-dir {str(tmp_path / 'nowhere')!r} does not exist")


def test_a_port_in_use(capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, _, err = run(capsys, "serve", "--rest-port", str(port), "--grpc-port", "off")
    assert_one_line(code, err, f"--rest-port {port}: 127.0.0.1:{port} is not available")


def test_a_corrupt_checkpoint_without_its_hash(capsys, tmp_path):
    from kerazoo.training.config import dump_config, load_config

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text(dump_config(load_config(overrides=["model.name=lenet5"])))
    (tmp_path / "checkpoints" / "best.keras").write_bytes(os.urandom(300))
    code, _, err = run(capsys, "evaluate", str(tmp_path))
    assert_one_line(code, err, "best.keras is corrupt or incomplete", "no best.keras.sha256")


def test_a_missing_extra_names_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "tf2onnx", None)  # as if not installed
    code, _, err = run(capsys, "export", str(tmp_path), "--name", "m", "--formats", "saved_model,onnx")
    assert_one_line(code, err, "'tf2onnx'", 'pip install "kerazoo[onnx]"')


def test_user_errors_and_bugs_are_told_apart():
    assert "kerazoo[serving]" in user_error(ModuleNotFoundError("No module named 'grpc'", name="grpc"))
    assert user_error(ModuleNotFoundError("No module named 'kerazoo.nothing'", name="kerazoo.nothing")) is None
    assert user_error(KeyError("a bug")) is None and user_error(TypeError("a bug")) is None
    assert user_error(ValueError("two\nlines")) == "two lines"


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch):
    import kerazoo.cli.runs

    def broken(args):
        raise KeyError("a bug in a verb")

    monkeypatch.setattr(kerazoo.cli.runs, "run_list", broken)
    with pytest.raises(KeyError):
        main(["runs", "list"])


def test_predict_names_the_runs_it_cannot_handle(capsys, tmp_path):
    run_dir = tmp_path / "gan"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("model:\n  name: dcgan\n")
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    code, _, err = run(capsys, "predict", str(run_dir), str(image))
    assert_one_line(code, err, f"{run_dir} is a generative run, which predict does not handle")
    code, _, err = run(capsys, "predict", str(run_dir))
    assert_one_line(code, err, "Missing IMAGE")


@pytest.mark.parametrize("config, argv, fragments", [  # --beam 3: its default, given
    ("task: charrnn\n", ["--beam", "3"], ["--beam does not apply to", "a char-RNN run (--beam is for captioning runs)"]),
    ("model:\n  name: resnet20\n", ["x.png", "--prime", "The", "--seed", "1"],
     ["--prime, --seed do not apply to", "a classifier run (--prime is for char-RNN runs)"]),
    ("model:\n  name: resnet20\n", ["x.png", "--out", "y.png"],
     ["a classifier run (--out is for dense-prediction runs and captioning runs)"]),
    ("model:\n  name: unet\n", ["x.png", "--top", "3"],
     ["a dense-prediction run (--top is for pretrained zoo models and classifier runs)"]),
])
def test_predict_rejects_options_the_run_does_not_use(capsys, tmp_path, config, argv, fragments):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(config)
    code, _, err = run(capsys, "predict", str(run_dir), *argv)
    assert_one_line(code, err, *fragments)


def test_predict_rejects_run_options_on_a_pretrained_model(capsys):
    code, _, err = run(capsys, "predict", "resnet50", "--weights", "imagenet", "cat.png", "--beam", "2")
    assert_one_line(code, err, "--beam does not apply to resnet50, a pretrained zoo model")
    code, _, err = run(capsys, "predict", "runs/missing", "cat.png", "--beam", "2")  # not a run: says that first
    assert_one_line(code, err, "No run directory runs/missing")

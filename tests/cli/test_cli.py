import os

import pytest
import yaml

from kerazoo.cli import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_verb_has_help_with_an_example():
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert {"train", "evaluate", "export", "models"} <= set(verbs)
    for name, sub in verbs.items():
        assert "example:" in sub.description and "kerazoo" in sub.description, name


def test_models_lists_and_shows(capsys):
    code, out, _ = run(capsys, "models", "resnet2*")
    assert code == 0 and "resnet20" in out and "He et al." in out
    code, out, _ = run(capsys, "models", "lenet5")
    assert code == 0 and "parameters:    61,706" in out
    code, spelled, _ = run(capsys, "models", "LeNet-5")  # keras.applications' and timm's spellings
    assert code == 0 and spelled == out


def test_unknown_model_lists_close_names(capsys, tmp_path):
    code, _, err = run(capsys, "train", "resnt20", "--out", str(tmp_path / "r"))
    assert code == 2 and "Unknown model name 'resnt20'" in err and "resnet20" in err
    assert not os.path.exists(tmp_path / "r")


def test_missing_dataset_says_how_to_get_it(capsys, tmp_path):
    code, _, err = run(capsys, "train", "lenet5", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out",
                       str(tmp_path / "r"))
    assert code == 2 and "Dataset 'mnist' (train) not found" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "lenet5", "--epochs", "0", "--out", "x"], "expected a positive integer, got '0'"),
    (["train", "lenet5", "--batch-size", "many", "--out", "x"], "expected a positive integer"),
    (["train", "lenet5", "--strategy", "warp", "--out", "x"], "invalid choice: 'warp'"),
    (["train", "lenet5"], "the following arguments are required: --out"),
])
def test_bad_flag_values(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_bad_override_is_named(capsys, tmp_path):
    code, _, err = run(capsys, "train", "lenet5", "optimizer.lrr=1", "--out", str(tmp_path / "r"))
    assert code == 2 and "Unknown config field 'optimizer.lrr'" in err


def test_init_from_another_model_is_named(capsys, trained_run, idx_data_dir, tmp_path):
    code, _, err = run(capsys, "train", "resnet20", "--init-from", trained_run, "--data-dir", idx_data_dir,
                       "data.train_split=train[:64]", "data.val_split=train[64:]", "--out", str(tmp_path / "r"))
    assert code == 2 and "Invalid model.init_from" in err and "model.name='lenet5'" in err
    assert not os.path.exists(tmp_path / "r" / "config.yaml"), "nothing a rerun would have to resume"


def test_train_on_a_stream_of_scenes(capsys, tmp_path, idx_data_dir):
    argv = ["train", "fcn8s", "--backbone", "lenet5", "--dataset", "fashion_mnist_scenes", "--data-dir", idx_data_dir,
            "--stream", "--batch-size", "4", "--epochs", "2", "data.augment=[]", "jit_compile=false",
            "data.train_split=train[:80]", "data.val_split=train[80:]"]
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "no_epoch_length"))
    assert code == 2 and "set 'steps_per_epoch'" in err
    code, out, _ = run(capsys, *argv, "--steps-per-epoch", "2", "--out", str(tmp_path / "r"))
    assert code == 0 and "run written" in out
    with open(tmp_path / "r" / "config.yaml", encoding="utf-8") as f:
        assert "stream: true" in f.read()
    with open(tmp_path / "r" / "metrics.jsonl", encoding="utf-8") as f:
        assert len(f.readlines()) == 2
    # trained further, it goes on where that run's stream stopped: after its 2 epochs of 2 batches of 4 scenes
    code, out, _ = run(capsys, *argv, "--steps-per-epoch", "2", "--init-from", str(tmp_path / "r"),
                       "--out", str(tmp_path / "more"))
    assert code == 0 and "run written" in out
    with open(tmp_path / "more" / "config.yaml", encoding="utf-8") as f:
        assert yaml.safe_load(f)["resolved"]["stream_start"] == 16


def test_export_and_evaluate_verbs(capsys, trained_run, tmp_path):
    code, out, err = run(capsys, "export", trained_run, "--repo", str(tmp_path), "--name", "m", "--formats", "tflite")
    assert code == 0 and "exported" in out and "tflite" in out
    assert "kerazoo: converting to TFLite (float)\n" in err and "kerazoo: checking tflite against" in err  # stages
    code, out, err = run(capsys, "evaluate", str(tmp_path / "m" / "1"))
    assert code == 0 and "saved_model" in out and "tflite" in out and "test accuracy" in out
    assert "kerazoo: evaluating tflite on" in err
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "m" / "1" / "model.tflite"))
    assert code == 0 and '"accuracy"' in out
    code, _, err = run(capsys, "evaluate", str(tmp_path / "nothing"))
    assert code == 2 and "does not exist" in err

"""char-RNN: the readable cell against NumPy and against numerical gradients, stateful windows, state carrying,
temperature/top-k sampling, a seeded run that lowers validation bits per character, the CLI and the neuron view."""

import json
import os

import keras
import numpy as np
import pytest

from kerazoo.cli import main
from kerazoo.diagnostics import check_gradients
from kerazoo.runs import RunDir
from kerazoo.sequence import charrnn
from kerazoo.sequence.charrnn import (VanillaRNNCell, Vocabulary, char_language_model, next_char_distribution,
                                      stateful_windows, zero_states)
from kerazoo.sequence.neurons import unit_activations, unit_html


def _numpy_vanilla_rnn(x, w_xh, w_hh, b):
    h = np.zeros((x.shape[0], w_hh.shape[0]))
    outputs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w_xh + h @ w_hh + b)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def test_vanilla_cell_matches_numpy_forward_pass():
    rng = np.random.default_rng(0)
    layer = keras.layers.RNN(VanillaRNNCell(4, name="cell"), return_sequences=True, name="rnn")
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    bias = rng.normal(size=4).astype("float32")
    layer.cell.bias.assign(bias)
    out = keras.ops.convert_to_numpy(layer(x))
    w_xh, w_hh = (keras.ops.convert_to_numpy(w) for w in (layer.cell.w_xh, layer.cell.w_hh))
    np.testing.assert_allclose(out, _numpy_vanilla_rnn(x, w_xh, w_hh, bias), rtol=1e-5, atol=1e-6)


def test_bptt_gradients_match_numerical_gradients():
    rng = np.random.default_rng(1)
    # The cell in float64 too: check_gradients rebuilds the RNN layer in float64, which does not reach its cell.
    layer = keras.layers.RNN(VanillaRNNCell(3, name="cell", dtype="float64"), return_sequences=True, name="rnn")
    x = rng.normal(size=(2, 4, 2))
    report = check_gradients(layer, x, tolerance=1e-6)
    assert report.passed, report.table()
    assert {t.name.split("/")[-1] for t in report.tensors} >= {"w_xh", "w_hh", "bias"}


def test_vanilla_cell_rejects_bad_units():
    with pytest.raises(ValueError, match="Received: units=0"):
        VanillaRNNCell(0)


def test_stateful_windows_continue_each_stream():
    ids = np.arange(101, dtype="int32")
    x, y = stateful_windows(ids, batch_size=4, seq_len=5)
    assert x.shape == y.shape == (5, 4, 5)  # 25 characters per stream, 5 windows
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[1, :, 0], x[0, :, -1] + 1)  # window k+1 starts where window k ended
    np.testing.assert_array_equal(x[0, :, 0], [0, 25, 50, 75])
    with pytest.raises(ValueError, match="Text too short"):
        stateful_windows(ids[:10], batch_size=4, seq_len=5)


@pytest.mark.parametrize("cell", ["vanilla", "rnn", "lstm", "gru"])
def test_carried_state_equals_reading_the_whole_sequence(cell):
    model = char_language_model(7, cell=cell, units=6, num_layers=2, embedding_dim=4)
    ids = keras.ops.convert_to_tensor(np.random.default_rng(0).integers(0, 7, size=(2, 9)), dtype="int32")
    whole = keras.ops.convert_to_numpy(model([ids, *zero_states(model, 2)])[0])
    first, *states = model([ids[:, :4], *zero_states(model, 2)])
    second = model([ids[:, 4:], *states])[0]
    halves = np.concatenate([keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)], axis=1)
    np.testing.assert_allclose(halves, whole, rtol=1e-5, atol=1e-5)
    assert len(model.inputs) == 1 + (4 if cell == "lstm" else 2)


def test_bad_cell_is_named():
    with pytest.raises(ValueError, match="expected one of vanilla, rnn, lstm, gru. Received: cell='transformer'"):
        char_language_model(5, cell="transformer")


def test_temperature_and_top_k():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_allclose(next_char_distribution(logits), [0.1, 0.2, 0.3, 0.4])
    sharp = np.array([0.1, 0.2, 0.3, 0.4]) ** 2
    np.testing.assert_allclose(next_char_distribution(logits, temperature=0.5), sharp / sharp.sum())
    np.testing.assert_allclose(next_char_distribution(logits, top_k=2), [0, 0, 3 / 7, 4 / 7])
    with pytest.raises(ValueError, match="Received: temperature=0"):
        next_char_distribution(logits, temperature=0)
    with pytest.raises(ValueError, match=r"in \[1, 4\].*Received: top_k=5"):
        next_char_distribution(logits, top_k=5)


def test_vocabulary_names_unknown_characters():
    vocab = Vocabulary.from_text("abc ")
    assert vocab.decode(vocab.encode("cab a")) == "cab a"
    with pytest.raises(ValueError, match=r"2 character\(s\) outside the model's vocabulary: 'Z', 'é'"):
        vocab.encode("aZé")


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A seeded short LSTM run on a generated text with a small vocabulary and a learnable structure."""
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat and a dog ran to the red box".split()
    text = "\n".join(" ".join(rng.choice(words, size=6)) + "." for _ in range(1500))
    folder = tmp_path_factory.mktemp("char")
    corpus_path = folder / "toy.txt"
    corpus_path.write_text(text, encoding="utf-8")
    return charrnn.train_char_rnn(
        str(folder / "run"), corpus=str(corpus_path), cell="lstm", units=48, num_layers=1, embedding_dim=16,
        seq_len=32, batch_size=16, steps=120, eval_every=60, learning_rate=1e-2, val_batches=6, verbose=0,
    )


def test_seeded_short_run_lowers_validation_bits_per_character(char_run):
    records, summary = RunDir(char_run).read_metrics(), RunDir(char_run).read_summary()
    assert [r["epoch"] for r in records] == [1, 2]  # one epoch of the service = eval_every steps
    # Untrained: ~log2(vocabulary of 17) = 4.1 bits; the first 60 steps average lower, validation lower still.
    assert records[0]["bpc"] < np.log2(17) and records[-1]["val_bpc"] < records[0]["bpc"] - 1.0
    np.testing.assert_allclose([r["val_bpc"] for r in records], [r["val_loss"] / np.log(2) for r in records],
                               rtol=1e-5)
    assert summary["val_bpc"] == pytest.approx(min(r["val_bpc"] for r in records), rel=1e-5)
    for name in ("config.yaml", "dataset.json", "checkpoints/best.keras", "checkpoints/last.keras",
                 "checkpoints/best.keras.sha256", "tb"):
        assert os.path.exists(os.path.join(char_run, name)), name
    assert not os.path.exists(os.path.join(char_run, "vocab.json")), "the vocabulary is dataset.json's class_names"


def test_the_run_is_a_service_run_of_the_charrnn_task(char_run):
    from kerazoo.training.run import load_run_config, load_run_info

    config = load_run_config(char_run)
    assert config.task == "charrnn" and config.task_options["cell"] == "lstm"
    assert (config.epochs, config.steps_per_epoch, config.data.batch_size) == (2, 60, 16)
    _, vocab, options = charrnn.load_char_run(char_run)
    assert "".join(load_run_info(char_run).class_names) == vocab.chars and len(vocab) == 17
    assert (options.steps, options.eval_every, options.seq_len) == (120, 60, 32)


def test_evaluate_measures_the_checkpoints_as_training_did(char_run, capsys):
    summary, last_record = RunDir(char_run).read_summary(), RunDir(char_run).read_metrics()[-1]
    assert charrnn.evaluate_char_run(char_run, "last")["val_bpc"] == pytest.approx(last_record["val_bpc"], rel=1e-5)
    assert main(["evaluate", char_run]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["checkpoint"] == "best" and printed["val_bpc"] == pytest.approx(summary["val_bpc"], rel=1e-5)
    assert main(["evaluate", char_run, "--beam", "3"]) == 2
    assert "--beam applies to captioning runs only" in capsys.readouterr().err
    assert main(["evaluate", char_run, "--scenes", "100"]) == 2
    assert "--scenes applies to captioning runs only" in capsys.readouterr().err


def test_a_finished_run_is_not_trained_over(char_run):
    config = charrnn.load_char_run(char_run)[2]
    with pytest.raises(FileExistsError, match="already complete.*--overwrite"):
        charrnn.train_char_rnn(char_run, config, verbose=0)
    assert os.path.exists(os.path.join(char_run, "summary.json"))


def test_run_killed_in_training_resumes_to_the_uninterrupted_run(char_run, tmp_path, monkeypatch, run_summary):
    from kerazoo.training import callbacks

    config = charrnn.load_char_run(char_run)[2]
    real_write_backup = callbacks.write_backup

    def crash_after_first_backup(folder, model, **kwargs):
        real_write_backup(folder, model, **kwargs)
        raise RuntimeError("simulated kill after step 60")

    monkeypatch.setattr(callbacks, "write_backup", crash_after_first_backup)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated kill"):
        charrnn.train_char_rnn(out, config, verbose=0)
    monkeypatch.setattr(callbacks, "write_backup", real_write_backup)
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [1]
    with pytest.raises(ValueError, match="different config \\(fields epochs differ\\)"):
        charrnn.train_char_rnn(out, config, steps=180, verbose=0)

    charrnn.train_char_rnn(out, config, verbose=0)
    # The carried state and the text position came back with the backup: the same steps as without the kill.
    assert RunDir(out).read_metrics() == RunDir(char_run).read_metrics()
    assert run_summary(out) == run_summary(char_run)
    assert not os.path.exists(os.path.join(out, "backup"))


def test_run_killed_in_its_final_evaluation_resumes_there(char_run, tmp_path, monkeypatch, run_summary):
    from kerazoo.sequence.tasks import CharRNNTask

    config = charrnn.load_char_run(char_run)[2]

    def crash(self, model, config, **kwargs):
        raise RuntimeError("simulated kill in the final evaluation")

    monkeypatch.setattr(CharRNNTask, "evaluate", crash)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated kill"):
        charrnn.train_char_rnn(out, config, verbose=0)
    assert os.path.isdir(os.path.join(out, "backup")) and not os.path.exists(os.path.join(out, "summary.json"))
    before = RunDir(out).read_metrics()
    monkeypatch.undo()
    charrnn.train_char_rnn(out, config, verbose=0)
    assert RunDir(out).read_metrics() == before == RunDir(char_run).read_metrics(), \
        "no step was trained or measured again"
    assert run_summary(out) == run_summary(char_run)
    assert not os.path.exists(os.path.join(out, "backup"))


def test_kerazoo_train_runs_the_recipe_task_and_checks_its_options(tmp_path, capsys):
    corpus_path = tmp_path / "tiny.txt"
    corpus_path.write_text("abcabcabd " * 200, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--config", "charrnn_fortunes", "--out", str(out), f"data.dataset={corpus_path}",
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "task_options.units=8",
                 "task_options.num_layers=1", "task_options.seq_len=8", "task_options.val_batches=1"]) == 0
    _, vocab, options = charrnn.load_char_run(str(out))
    assert vocab.chars == " abcd" and (options.units, options.steps) == (8, 2)
    assert charrnn.sample(str(out), prime="ab", length=5).startswith("ab")
    assert main(["train", "--config", "charrnn_fortunes", "--out", str(tmp_path / "r2"),
                 "task_options.unit=8"]) == 2
    assert "Unknown config field 'task_options.unit' for the charrnn task. Did you mean units?" in \
        capsys.readouterr().err
    assert main(["train", "--config", "charrnn_fortunes", "--out", str(tmp_path / "r3"), "task_options.seed=1"]) == 2
    assert "'task_options.seed' is set by seed" in capsys.readouterr().err
    assert main(["train", "--config", "charrnn_fortunes", "--out", str(tmp_path / "r4"), "task=charnn"]) == 2
    assert "names no registered task: 'charnn'. Did you mean charrnn?" in capsys.readouterr().err


def test_top_1_sampling_is_greedy_decoding_of_the_whole_text(char_run):
    model, vocab, _ = charrnn.load_char_run(char_run)
    text = charrnn.sample(char_run, prime="the ", length=12, top_k=1)
    ids = list(vocab.encode("the "))
    for _ in range(12):  # the slow way: re-read everything for each character
        logits = model([keras.ops.convert_to_tensor([ids], dtype="int32"), *zero_states(model, 1)])[0]
        ids.append(int(np.argmax(keras.ops.convert_to_numpy(logits)[0, -1])))
    assert text == vocab.decode(ids)
    assert charrnn.sample(char_run, prime="the ", length=30, temperature=0.8, seed=3) == \
        charrnn.sample(char_run, prime="the ", length=30, temperature=0.8, seed=3)


def test_prime_outside_the_vocabulary_is_an_error(char_run):
    with pytest.raises(ValueError, match="outside the model's vocabulary: 'Q'"):
        charrnn.sample(char_run, prime="Queen", length=5)
    with pytest.raises(ValueError, match="Received: prime=''"):
        charrnn.sample(char_run, prime="", length=5)


def test_cli_sample_and_neurons(char_run, tmp_path, capsys):
    assert main(["sequence", "sample", char_run, "--prime", "the ", "--length", "20", "--temperature", "0.5"]) == 0
    assert capsys.readouterr().out.startswith("the ")
    out = tmp_path / "cell.html"
    assert main(["sequence", "neurons", char_run, "--unit", "3", "--text", "the cat\nsat", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<span") == len("the cat\nsat") and "<br>" in page
    assert main(["sequence", "sample", char_run, "--prime", "XYZ"]) == 2
    assert "outside the model's vocabulary" in capsys.readouterr().err


def test_predict_on_the_run_samples_text(char_run, tmp_path, capsys):
    options = ["--prime", "the ", "--length", "20", "--temperature", "0.5", "--top-k", "4", "--seed", "3"]
    assert main(["predict", char_run, *options]) == 0
    expected = charrnn.sample(char_run, prime="the ", length=20, temperature=0.5, top_k=4, seed=3)
    assert capsys.readouterr().out.rstrip("\n") == expected and len(expected) == 24
    image = tmp_path / "x.png"
    keras.utils.save_img(str(image), np.zeros((8, 8, 1), "uint8"), scale=False)
    assert main(["predict", char_run, str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a char-RNN run: it samples text and takes no images" in err and len(err.splitlines()) == 1, err


def test_unit_activations_are_the_hidden_state(char_run):
    model, vocab, _ = charrnn.load_char_run(char_run)
    text = "a red cat"
    values = unit_activations(char_run, text, unit=5)
    hidden = []
    states = zero_states(model, 1)
    for char in text:  # one character at a time: the h state after each
        _, *states = model([keras.ops.convert_to_tensor(vocab.encode(char)[None, :]), *states])
        hidden.append(keras.ops.convert_to_numpy(states[0])[0, 5])
    np.testing.assert_allclose(values, hidden, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"Invalid unit: expected an integer in \[0, 47\]"):
        unit_activations(char_run, text, unit=48)
    with pytest.raises(ValueError, match="one value per character"):
        unit_html("abc", np.zeros(2))


def test_cli_train_writes_a_run_and_names_a_missing_corpus(tmp_path, monkeypatch, capsys):
    corpus_path = tmp_path / "tiny.txt"
    corpus_path.write_text("abcabcabd " * 200, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["sequence", "train", "--cell", "vanilla", "--corpus", str(corpus_path), "--steps", "4",
                 "--units", "8", "--layers", "1", "--seq-len", "8", "--batch-size", "4", "--eval-every", "2",
                 "--out", str(out)]) == 0
    assert (out / "checkpoints" / "last.keras").exists()
    from kerazoo.sequence import corpus

    missing = corpus.Corpus("fortunes", "test", (str(tmp_path / "none" / "*"),), "apt-get install -y fortunes", "BSD")
    monkeypatch.setitem(corpus.CORPORA, "fortunes", missing)
    assert main(["sequence", "train", "--steps", "200", "--out", str(tmp_path / "run2")]) == 2
    assert "apt-get install -y fortunes" in capsys.readouterr().err

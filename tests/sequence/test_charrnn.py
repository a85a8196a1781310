"""char-RNN: the readable cell against NumPy and against numerical gradients, stateful windows, state carrying,
temperature/top-k sampling, a seeded run that lowers validation bits per character, the CLI and the neuron view."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from kerazoo.cli import main
from kerazoo.diagnostics import check_gradients
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
    with open(os.path.join(char_run, "summary.json")) as f:
        summary = json.load(f)
    # Untrained: ~log2(vocabulary of 21) = 4.4 bits. The margin is kept small for CI: at least 1.5 bits lower.
    assert summary["initial_val_bpc"] > 4.0
    assert summary["best_val_bpc"] < summary["initial_val_bpc"] - 1.5
    with open(os.path.join(char_run, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["step"] for r in records] == [0, 60, 120]
    for name in ("config.yaml", "vocab.json", "checkpoints/best.keras", "checkpoints/last.keras",
                 "checkpoints/best.keras.sha256"):
        assert os.path.exists(os.path.join(char_run, name)), name


def test_evaluate_measures_the_checkpoints_as_training_did(char_run, capsys):
    with open(os.path.join(char_run, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(char_run, "metrics.jsonl")) as f:
        last_record = [json.loads(line) for line in f][-1]
    assert charrnn.evaluate_char_run(char_run, "last")["val_bpc"] == pytest.approx(last_record["val_bpc"], rel=1e-5)
    assert main(["evaluate", char_run]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["checkpoint"] == "best" and printed["val_bpc"] == pytest.approx(summary["best_val_bpc"], rel=1e-5)
    assert main(["evaluate", char_run, "--beam", "3"]) == 2
    assert "--beam applies to captioning runs only" in capsys.readouterr().err
    assert main(["evaluate", char_run, "--scenes", "100"]) == 2
    assert "--scenes applies to captioning runs only" in capsys.readouterr().err


def test_a_finished_run_is_not_trained_over(char_run):
    import yaml

    with open(os.path.join(char_run, "config.yaml")) as f:
        config = charrnn.CharRNNConfig(**yaml.safe_load(f))
    with pytest.raises(FileExistsError, match="already complete.*--overwrite"):
        charrnn.train_char_rnn(char_run, config, verbose=0)
    assert os.path.exists(os.path.join(char_run, "summary.json"))


def test_interrupted_run_resumes_from_its_last_backup(char_run, tmp_path, monkeypatch):
    import yaml

    from kerazoo.training import callbacks

    with open(os.path.join(char_run, "config.yaml")) as f:
        config = charrnn.CharRNNConfig(**yaml.safe_load(f))
    real_write_backup = callbacks.write_backup

    def crash_after_first_backup(folder, model, **kwargs):
        real_write_backup(folder, model, **kwargs)
        raise RuntimeError("simulated crash at step 60")

    monkeypatch.setattr(callbacks, "write_backup", crash_after_first_backup)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        charrnn.train_char_rnn(out, config, verbose=0)
    monkeypatch.setattr(callbacks, "write_backup", real_write_backup)
    with pytest.raises(ValueError, match="different config \\(fields steps differ\\)"):
        charrnn.train_char_rnn(out, config, steps=240, verbose=0)

    charrnn.train_char_rnn(out, config, verbose=0)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [0, 60, 120]
    with open(os.path.join(out, "summary.json")) as f:
        resumed = json.load(f)
    with open(os.path.join(char_run, "summary.json")) as f:
        whole = json.load(f)
    assert resumed["initial_val_bpc"] == whole["initial_val_bpc"]  # step 0 is not measured again
    assert resumed["best_val_bpc"] < whole["initial_val_bpc"] - 1.5
    assert not os.path.exists(os.path.join(out, "backup"))
    assert any(name.startswith("events") for name in os.listdir(os.path.join(out, "tb")))


def test_run_killed_after_its_last_backup_writes_the_summary_without_training(char_run, tmp_path, monkeypatch):
    import yaml

    from kerazoo.training import callbacks

    with open(os.path.join(char_run, "config.yaml")) as f:
        config = charrnn.CharRNNConfig(**yaml.safe_load(f))
    config = dataclasses.replace(config, steps=60)
    real_finish_run = callbacks.finish_run

    def crash(run_dir, summary):
        raise RuntimeError("simulated crash before summary.json")

    monkeypatch.setattr(callbacks, "finish_run", crash)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        charrnn.train_char_rnn(out, config, verbose=0)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        before = f.read()
    monkeypatch.setattr(callbacks, "finish_run", real_finish_run)
    charrnn.train_char_rnn(out, config, verbose=0)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        assert f.read() == before, "no step was trained or measured again"
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert summary["steps"] == 60
    assert summary["best_val_bpc"] == min(json.loads(line)["val_bpc"] for line in before.splitlines())
    assert not os.path.exists(os.path.join(out, "backup"))


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
    assert main(["sequence", "train", "--steps", "1", "--out", str(tmp_path / "run2")]) == 2
    assert "apt-get install -y fortunes" in capsys.readouterr().err

"""Run directories written by kerazoo.sequence before char-RNNs and captioners trained through the training service
(config.yaml of their own fields, vocab.json; tests/fixtures/sequence/make_v1.py) still sample and caption, giving
what the code that wrote them gave (expected.json)."""

import json
import os

import keras
import numpy as np

from kerazoo.cli import main
from kerazoo.sequence import captioning, charrnn

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "sequence")


def _expected():
    with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def test_an_old_char_run_samples_what_it_sampled(capsys):
    run = os.path.join(FIXTURES, "char_run_v1")
    model, vocab, config = charrnn.load_char_run(run)
    assert config.cell == "gru" and vocab.chars.startswith("\n .")
    assert charrnn.sample(run, prime="the ", length=20, temperature=0.8, seed=1) == _expected()["char_sample"]
    assert main(["sequence", "sample", run, "--prime", "the ", "--length", "20", "--temperature", "0.8",
                 "--seed", "1"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == _expected()["char_sample"]
    assert main(["predict", run, "--prime", "the ", "--length", "20", "--temperature", "0.8", "--seed", "1"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == _expected()["char_sample"]


def test_an_old_caption_run_captions_what_it_captioned(tmp_path, capsys):
    run = os.path.join(FIXTURES, "caption_run_v1")
    image = tmp_path / "ramp.png"
    keras.utils.save_img(str(image), (np.arange(32 * 32).reshape(32, 32, 1) % 251).astype("uint8"), scale=False)
    caption, words, alphas = captioning.caption_image(run, str(image), beam_width=2)
    assert caption == _expected()["caption"] and list(alphas.shape) == _expected()["alphas_shape"]
    assert main(["caption", run, str(image), "--beam", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == _expected()["caption"]
    assert main(["predict", run, str(image), "--beam", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [_expected()["caption"]]
    _, vocab, config = captioning.load_caption_run(run)
    assert config.backbone == "lenet5" and vocab.words[:4] == ("<pad>", "<start>", "<end>", "<unk>")

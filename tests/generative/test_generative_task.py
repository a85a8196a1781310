"""The generative models under the one training service, and the `generate` / `evaluate` verbs on their runs."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from kerazoo.cli import main
from kerazoo.training import load_config, train

TINY = {
    "vae": "{filters: 4, hidden: 16, latent_dim: 2, seed: 0}",
    "pixelcnn": "{filters: 4, residual_blocks: 1, head_filters: 8}",
    "dcgan": "{filters: 4, latent_dim: 4, seed: 0}",
    "autoencoder": "{filters: 4, hidden: 16, code_size: 8}",
}


def _train(name, data_dir, out, epochs=2):
    config = load_config(overrides=[
        f"model.name={name}", f"model.kwargs={TINY[name]}", f"data.data_dir={data_dir}",
        "data.train_split=train[:64]", "data.val_split=train[64:]", "data.batch_size=32", f"epochs={epochs}",
        "strategy=default", "jit_compile=false",
    ])
    return train(config, str(out), verbose=0)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, idx_data_dir):
    return _train("vae", idx_data_dir, tmp_path_factory.mktemp("runs") / "vae")


def test_vae_run_has_checkpoints_metrics_and_likelihood_figures(vae_run):
    assert os.path.exists(os.path.join(vae_run, "checkpoints", "best.keras"))
    with open(os.path.join(vae_run, "summary.json")) as f:
        summary = json.load(f)
    assert summary["split"] == "test" and summary["examples"] == 48
    assert summary["elbo_nats"] < summary["iwae_nats"] < 0
    with open(os.path.join(vae_run, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f]
    assert [e["epoch"] for e in epochs] == [1, 2] and {"loss", "kl", "val_loss"} <= set(epochs[0])
    assert epochs[1]["loss"] < epochs[0]["loss"]


def test_generate_and_evaluate_verbs(vae_run, tmp_path, capsys):
    png = str(tmp_path / "samples.png")
    assert main(["generate", vae_run, "--n", "9", "--out", png]) == 0
    assert matplotlib.image.imread(png).shape[:2] == (3 * 29 + 1, 3 * 29 + 1)  # 3x3 grid of 28x28, 1-pixel gaps
    assert main(["generate", vae_run, "--mode", "manifold", "--n", "16", "--out", str(tmp_path / "m.png")]) == 0
    assert main(["generate", vae_run, "--mode", "interpolate", "--n", "8", "--out", str(tmp_path / "i.png")]) == 0
    capsys.readouterr()
    assert main(["evaluate", vae_run, "--limit", "16"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["examples"] == 16 and figures["iwae_k"] == 64 and "elbo_nats" in figures


def test_bad_input_is_a_clear_error(vae_run, trained_run, tmp_path, capsys):
    latents = str(tmp_path / "z.npy")
    np.save(latents, np.zeros((4, 3)))
    assert main(["generate", vae_run, "--latents", latents, "--out", str(tmp_path / "z.png")]) == 2
    assert "expected shape (n, 2) for this model's latent_dim=2" in capsys.readouterr().err
    assert main(["generate", trained_run, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "is a classification run (model 'lenet5'), not a generative one" in err and "vae" in err
    assert not os.path.exists(tmp_path / "x.png")


def test_sample_grid_callback_writes_tensorboard_images(vae_run, tmp_path):
    import tensorflow as tf

    from kerazoo.generative import GenerativeTask, load_generative_run

    model, config = load_generative_run(vae_run)
    (callback,) = GenerativeTask().callbacks(model, config, str(tmp_path))
    callback.on_epoch_end(0)
    folder = tmp_path / "tb" / "samples"
    (event_file,) = list(folder.iterdir())
    tags = [v.tag for e in tf.compat.v1.train.summary_iterator(str(event_file)) for v in e.summary.value]
    assert tags == ["samples"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pixelcnn", "dcgan", "autoencoder"])
def test_other_families_train_evaluate_and_generate(name, idx_data_dir, tmp_path):
    run = _train(name, idx_data_dir, tmp_path / name, epochs=1)
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    expected = {"pixelcnn": "bits_per_dim", "dcgan": "d_accuracy_real", "autoencoder": "linear_probe_accuracy"}
    assert expected[name] in summary
    mode = "reconstruct" if name == "autoencoder" else "samples"
    assert main(["generate", run, "--mode", mode, "--n", "4", "--out", str(tmp_path / "g.png")]) == 0
    assert os.path.exists(tmp_path / "g.png")

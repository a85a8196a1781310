"""The dense heads through the one service: `kerazoo train` (with --backbone and --backbone-from), `kerazoo
evaluate` (the Task's metrics) and `kerazoo predict` (a picture of the prediction)."""

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest

from kerazoo.cli import main
from kerazoo.datasets.scenes import make_scenes

pytestmark = pytest.mark.slow  # one short 96x96 training run shared by the module (~1 min on an idle machine)

OVERRIDES = ["data.train_split=train[:80]", "data.val_split=train[80:]", "data.augment=[]", "jit_compile=false",
             "strategy=default", "optimizer.name=adam", "optimizer.lr=0.003", "optimizer.weight_decay=0"]
FLAGS = ["--dataset", "fashion_mnist_scenes", "--epochs", "2", "--batch-size", "8", "--limit", "16", "--seed", "0"]


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory, idx_data_dir, trained_run):
    out = str(tmp_path_factory.mktemp("runs") / "unet")
    code = main(["train", "unet", *OVERRIDES, "--backbone", "lenet5", "--backbone-from", trained_run,
                 "--freeze-epochs", "1", "--data-dir", idx_data_dir, "--out", out, *FLAGS])
    assert code == 0
    return out


def test_train_writes_a_segmentation_run_with_transfer(unet_run, trained_run):
    with open(os.path.join(unet_run, "summary.json")) as f:
        summary = json.load(f)
    assert 0.0 <= summary["mean_iou"] <= 1.0 and "class_iou" in summary
    lines = [json.loads(line) for line in open(os.path.join(unet_run, "metrics.jsonl"))]
    assert "val_mean_iou" in lines[-1]
    # Epoch 1 trained the head only, epoch 2 the backbone too: its first conv left the classifier's weights.
    from kerazoo.training.run import load_run_model

    head, classifier = load_run_model(unet_run, "last"), load_run_model(trained_run)
    # The transferred backbone sees pixels scaled as its classifier learnt them, not by the scenes' statistics.
    ours, theirs = head.get_layer("normalize"), classifier.get_layer("normalize")
    assert (ours.scale, ours.offset) == (theirs.scale, theirs.offset)
    layer = next(x for x in head.get_layer("backbone").layers if x.weights)
    assert not np.allclose(layer.get_weights()[0], classifier.get_layer(layer.name).get_weights()[0])


def test_evaluate_prints_the_task_metrics(unet_run, capsys):
    assert main(["evaluate", unet_run, "--limit", "16"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"mean_iou", "pixel_accuracy", "class_iou"} <= set(figures)


def test_predict_draws_the_mask(unet_run, idx_data_dir, tmp_path, capsys):
    image = make_scenes("test", 1, data_dir=idx_data_dir, min_objects=2).images[0, ..., 0]
    path = str(tmp_path / "scene.png")
    plt.imsave(path, image, cmap="gray", vmin=0, vmax=255)
    out = str(tmp_path / "pred.png")
    assert main(["predict", unet_run, path, "--out", out]) == 0
    picture = plt.imread(out)
    assert picture.shape[0] >= 96 and picture.shape[1] == 96 + 96 and "drawn to" in capsys.readouterr().out  # + legend


def test_predict_prints_top5_for_classifiers(trained_run, tmp_path, capsys):
    path = str(tmp_path / "item.png")
    plt.imsave(path, np.full((28, 28), 128, np.uint8), cmap="gray", vmin=0, vmax=255)
    assert main(["predict", trained_run, path]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5


def test_export_serves_masks(unet_run, tmp_path, capsys):
    import tensorflow as tf

    assert main(["export", unet_run, "--repo", str(tmp_path / "models"), "--name", "unet"]) == 0
    meta = json.load(open(tmp_path / "models" / "unet" / "1" / "kerazoo.json"))
    assert meta["task"] == "segmentation" and meta["outputs"] == ["masks", "probabilities"]
    served = tf.saved_model.load(str(tmp_path / "models" / "unet" / "1")).signatures["serving_default"](
        images=tf.zeros((1, 96, 96, 1)))
    assert served["masks"].shape == (1, 96, 96) and served["probabilities"].shape == (1, 96, 96, 11)

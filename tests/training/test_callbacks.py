import json
import warnings

import pytest

from kerazoo.training.callbacks import _score_key, plot_curves


def write_metrics(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize("records, expected", [
    ([{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "mean_iou": 0.1, "val_loss": 1.2, "lr": 0.1}], "accuracy"),
    ([{"epoch": 1, "loss": 1.0, "mean_iou": 0.2, "pixel_accuracy": 0.7, "val_mean_iou": 0.1}], "mean_iou"),
    ([{"epoch": 1, "box_loss": 0.1, "class_loss": 0.3, "class_accuracy": 0.4, "loss": 0.4}], "class_accuracy"),
    ([{"epoch": 1, "loss": 9.0, "val_loss": 8.0, "lr": 0.001}], None),  # detectors log only losses
])
def test_score_beside_the_loss_is_the_tasks_own(records, expected):
    assert _score_key(records) == expected


@pytest.mark.parametrize("records", [
    [{"epoch": 1, "loss": 2.0, "val_loss": 2.5}, {"epoch": 2, "loss": 1.0, "val_loss": 1.5}],
    [{"epoch": 1, "loss": 2.0, "mean_iou": 0.3, "val_mean_iou": 0.2}],
])
def test_curves_are_drawn_without_empty_panels(tmp_path, records):
    write_metrics(tmp_path / "metrics.jsonl", records)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty panel warns "No artists with labels found to put in legend"
        plot_curves(str(tmp_path / "metrics.jsonl"), str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 0

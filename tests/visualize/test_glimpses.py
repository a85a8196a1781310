"""`glimpses`: the glimpse path of a recurrent attention model drawn on images (kerazoo.visualize.glimpses)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.visualize import glimpses

TINY = {"glimpses": 3, "glimpse_size": 6, "scales": 2, "glimpse_units": 8, "location_units": 8, "hidden_units": 8}


def test_glimpses_writes_a_non_blank_png_and_returns_the_path(tmp_path):
    model = create_model("ram", classes=3, input_shape=(30, 30, 1), seed=0, **TINY)
    images = np.zeros((3, 30, 30, 1), "float32")
    images[:, 10:20, 5:25] = 255.0
    out = str(tmp_path / "glimpses.png")
    locations = glimpses(model, images, labels=[0, 1, 2], class_names=("a", "b", "c"), out=out)
    assert locations.shape == (3, 3, 2) and np.all(np.abs(locations) <= 1.0)
    picture = plt.imread(out)[..., :3]
    assert picture.shape[:2] == (600, 800) and picture.std() > 0.05
    assert (np.ptp(picture, axis=-1) > 0.3).sum() > 100  # coloured boxes over grey images


def test_glimpses_checks_its_inputs():
    model = create_model("ram", classes=3, input_shape=(30, 30, 1), seed=0, **TINY)
    with pytest.raises(ValueError, match=r"Invalid images: expected \[N, H, W, C\] with 1 <= N <= 8"):
        glimpses(model, np.zeros((9, 30, 30, 1), "float32"))
    with pytest.raises(ValueError, match="Invalid labels: expected one per image"):
        glimpses(model, np.zeros((2, 30, 30, 1), "float32"), labels=[1])

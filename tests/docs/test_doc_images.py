"""The docs embed small PNGs made by scripts/docs_figures.py from the project's own outputs: every embedded image
exists and is small, and the script's shrinking step makes a figure a few KB."""

import importlib.util
import os
import re

import numpy as np
from PIL import Image

import kerazoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(kerazoo.__file__)))
DOCS = os.path.join(REPO, "docs")
PAGES = ("training.md", "visualize.md", "vision.md", "rl.md")
MAX_BYTES = 40 * 1024


def script():
    spec = importlib.util.spec_from_file_location("docs_figures", os.path.join(REPO, "scripts", "docs_figures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_embedded_image_exists_and_is_small():
    for page in PAGES:
        with open(os.path.join(DOCS, page), encoding="utf-8") as f:
            images = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", f.read())
        assert images, f"{page} embeds no figure"
        for image in images:
            path = os.path.join(DOCS, image)
            assert os.path.isfile(path), f"{page}: {image} is missing (python scripts/docs_figures.py)"
            assert os.path.getsize(path) <= MAX_BYTES, f"{image}: {os.path.getsize(path)} bytes"
            assert Image.open(path).width == script().WIDTH


def test_shrink_makes_a_figure_a_few_kilobytes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    ax.plot(np.linspace(0, 1, 50), np.random.default_rng(0).random(50))
    fig.savefig(tmp_path / "big.png")
    plt.close(fig)
    path = script().shrink(str(tmp_path / "big.png"), "small.png", out=str(tmp_path / "img"))
    small = Image.open(path)
    assert small.size == (480, 360) and small.mode == "P"
    assert os.path.getsize(path) < min(MAX_BYTES, os.path.getsize(tmp_path / "big.png"))

"""Make the small PNGs the docs embed (docs/img/), from the project's own outputs, offline, in a few minutes on 2 cores.

    python scripts/docs_figures.py                 # all figures into docs/img/
    python scripts/docs_figures.py --only rl       # one page's figures

| figure | page | made from |
| --- | --- | --- |
| training_curves.png | training.md | the curves.png of a short `kerazoo train lenet5` run on Fashion-MNIST |
| visualize_gradcam.png, visualize_saliency.png | visualize.md | `kerazoo visualize` of that run |
| vision_scenes.png | vision.md | generated Fashion-MNIST scenes with their boxes, classes and masks |
| rl_returns.png | rl.md | the episodic returns a short DQN run on CartPole-v1 logs |

Each figure is drawn at the project's usual size and then shrunk (width ``WIDTH`` px, a 64-colour palette) to a few
KB, written atomically. The runs go to a temporary folder. Needs Fashion-MNIST's IDX files (see
kerazoo/datasets/__init__.py) and the ``rl`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from kerazoo.io import atomic_file  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "img")
WIDTH = 480
COLOURS = 64
PAGES = ("training", "visualize", "vision", "rl")


def shrink(source: str, name: str, out: str = OUT) -> str:
    """``source`` PNG resized to ``WIDTH`` px wide with a ``COLOURS``-colour palette, written to ``out/name``."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    height = round(image.height * WIDTH / image.width)
    small = image.resize((WIDTH, height), Image.LANCZOS).quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    with atomic_file(path) as tmp:
        small.save(tmp, format="PNG", optimize=True)
    print(f"{path}: {os.path.getsize(path) / 1024:.1f} KB")
    return path


def lenet_run(work: str) -> str:
    """Four epochs of LeNet-5 on 6,000 Fashion-MNIST images (about a minute)."""
    from kerazoo.training import load_config, train

    config = load_config(overrides=["model.name=lenet5", "data.train_split=train[:6000]", "data.val_split=train[55000:]",
                                    "data.augment=[]", "epochs=4", "optimizer.name=adam", "optimizer.lr=0.002",
                                    "optimizer.weight_decay=0", "strategy=default"])
    return train(config, os.path.join(work, "lenet5"), verbose=0)


def training_figures(run: str) -> None:
    shrink(os.path.join(run, "curves.png"), "training_curves.png")


def visualize_figures(run: str, work: str) -> None:
    from kerazoo.visualize import visualize

    for method in ("gradcam", "saliency"):
        shrink(visualize(run, method, out=os.path.join(work, "figures"), index=0), f"visualize_{method}.png")


def vision_figures(work: str) -> None:
    from matplotlib.patches import Rectangle

    from kerazoo.datasets.scenes import make_scenes
    from kerazoo.visualize.common import new_figure, save_figure

    scenes = make_scenes("test", 3, canvas=96, max_objects=4, min_objects=2, seed=1)
    fig, axes = new_figure(2, 3)
    for i in range(3):
        axes[0, i].imshow(scenes.images[i, ..., 0], cmap="gray")
        for box, label in zip(scenes.boxes[i], scenes.classes[i]):
            if label < 0:
                continue
            x1, y1, x2, y2 = box
            axes[0, i].add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="lime", linewidth=1.5))
            axes[0, i].text(x1, y1 - 1, str(int(label)), color="lime", fontsize=8)
        owners = scenes.owners[i].astype(float)
        axes[1, i].imshow(np.where(owners < 0, np.nan, owners), cmap="tab10", vmin=0, vmax=9)
    axes[0, 0].set_title("scenes: boxes and classes", fontsize=9, loc="left")
    axes[1, 0].set_title("instance masks", fontsize=9, loc="left")
    shrink(save_figure(fig, os.path.join(work, "scenes.png"), "Generated Fashion-MNIST scenes (kerazoo.datasets.scenes)"),
           "vision_scenes.png")


def rl_figures(work: str) -> None:
    from kerazoo.rl import dqn
    from kerazoo.visualize.common import save_figure

    run = dqn.train(dqn.make_args(env="CartPole-v1", steps=20_000, seed=0, eval_episodes=0, eval_every=0,
                                  log_every=1_000, out=os.path.join(work, "dqn"), verbose=False))
    steps, returns = [], []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for row in map(json.loads, f):
            value = row.get("episodic_return")
            if value is not None:
                steps.append(row["step"])
                returns.append(value)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, returns, marker="o", markersize=3)
    ax.axhline(500, color="grey", linestyle=":", label="CartPole-v1's maximum (500)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episodic return (mean of the interval)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the title save_figure adds, and the axis labels
    shrink(save_figure(fig, os.path.join(work, "dqn_returns.png"), "DQN on CartPole-v1 (seed 0)"), "rl_returns.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=PAGES, action="append", help="make only this page's figures (repeatable)")
    pages = parser.parse_args(argv).only or PAGES
    with tempfile.TemporaryDirectory() as work:
        if {"training", "visualize"} & set(pages):
            run = lenet_run(work)
            if "training" in pages:
                training_figures(run)
            if "visualize" in pages:
                visualize_figures(run, work)
        if "vision" in pages:
            vision_figures(work)
        if "rl" in pages:
            rl_figures(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The generative models' figures on Fashion-MNIST, in one run, through the training service (`kerazoo train`).

    python bench/generative.py            # full run (the figures quoted in BENCHMARKS.md and docs/generative.md)
    python bench/generative.py --quick    # a smoke run: tiny models, 1,024 training images, 1 epoch (~minutes)
    python bench/generative.py --epochs pixelcnn_binarized=1,pixelcnn_8bit=1   # fewer epochs for some models

Figures (each model's test split: 10,000 images; `--quick`: 256):
- PixelCNN NLL in bits/dim on binarized and on 8-bit Fashion-MNIST (exact likelihood);
- VAE (Bernoulli, binarized) ELBO and IWAE estimate (k = 64) in nats per image;
- autoencoder linear-probe (and kNN) accuracy of its codes;
- DCGAN Fréchet distance on the features of a LeNet-5 classifier trained here, next to its floor (the real test
  set's distance to the same reference, the training set);
- epochs and training wall time of each (``train_seconds_this_attempt``; ``train_seconds_with_evaluation`` adds
  the test figures). Sample grids (PNG) go to bench/results/generative/.
Writes bench/results/generative.json (or generative_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import write_results  # noqa: E402

# name, model, builder kwargs (full, quick), epochs (full); "levels" distinguishes the two PixelCNNs.
PLAN = [
    ("pixelcnn_binarized", "pixelcnn", "{levels: 2}", "{levels: 2, filters: 8, residual_blocks: 1}", 5),
    ("pixelcnn_8bit", "pixelcnn", "{levels: 256}", "{levels: 256, filters: 8, residual_blocks: 1}", 5),
    ("vae", "vae", "{latent_dim: 16, seed: 0}", "{latent_dim: 16, filters: 8, hidden: 32, seed: 0}", 20),
    ("vae_2d", "vae", "{latent_dim: 2, seed: 0}", "{latent_dim: 2, filters: 8, hidden: 32, seed: 0}", 20),
    ("autoencoder", "autoencoder", "{code_size: 32}", "{code_size: 32, filters: 8, hidden: 32}", 10),
    ("dcgan", "dcgan", "{latent_dim: 64, seed: 0}", "{latent_dim: 16, filters: 8, seed: 0}", 20),
    ("lenet5_features", "lenet5", "{}", "{}", 5),
]


def train_one(key, model, kwargs, epochs, args):
    from kerazoo.runs import RunDir
    from kerazoo.training import load_config, train

    overrides = [f"model.name={model}", f"model.kwargs={kwargs}", f"epochs={epochs}", "strategy=default"]
    if args.data_dir:
        overrides.append(f"data.data_dir={args.data_dir}")
    if model == "lenet5":
        overrides += ["optimizer.name=adam", "optimizer.lr=0.001", "optimizer.weight_decay=0", "data.augment=[]"]
    if args.quick:
        overrides += ["data.limit=1024", "data.val_split=train[59744:]", "data.test_split=test[:256]"]
    start = time.time()
    run = train(load_config(overrides=overrides), os.path.join(args.runs, key), overwrite=True, verbose=0)
    summary = RunDir(run).read_summary()
    summary.pop("best", None)
    figures = {"model": model, "kwargs": kwargs, "train_seconds_with_evaluation": round(time.time() - start, 1),
               **summary}
    print(f"{key}: {json.dumps(figures)}", flush=True)
    return run, figures


def epochs_by_key(text: str | None) -> dict:
    """``"vae=5,dcgan=8"`` -> {"vae": 5, "dcgan": 8}, checked against the plan's keys."""
    keys = [key for key, *_ in PLAN]
    chosen = {}
    for item in filter(None, (text or "").split(",")):
        key, _, value = item.partition("=")
        if key not in keys or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--epochs: expected KEY=N with N >= 1 and KEY one of {keys}, got {item!r}")
        chosen[key] = int(value)
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny models and data: a smoke run")
    parser.add_argument("--runs", default="runs/bench_generative", help="folder for the run directories")
    parser.add_argument("--data-dir", help="Fashion-MNIST folder (default: kerazoo.datasets' search path)")
    parser.add_argument("--samples", type=int, default=None, help="generated images for the Fréchet distance")
    parser.add_argument("--epochs", default=None, help="KEY=N[,KEY=N...]: train these models N epochs instead")
    args = parser.parse_args(argv)
    epochs_override = epochs_by_key(args.epochs)

    from kerazoo.generative import generate, sample_quality

    n_fid = args.samples or (256 if args.quick else 10000)
    grids = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "generative" + ("_quick" if args.quick else ""))
    figures, runs = {}, {}
    for key, model, full, quick, epochs in PLAN:
        epochs = 1 if args.quick else epochs_override.get(key, epochs)
        runs[key], figures[key] = train_one(key, model, quick if args.quick else full, epochs, args)

    started = time.time()
    for key, mode, n in [("pixelcnn_binarized", "samples", 16 if args.quick else 64),
                         ("pixelcnn_8bit", "samples", 16 if args.quick else 64), ("vae", "samples", 64),
                         ("vae", "interpolate", 64), ("vae_2d", "manifold", 225), ("autoencoder", "reconstruct", 32),
                         ("dcgan", "samples", 64), ("dcgan", "interpolate", 64), ("dcgan", "arithmetic", 32)]:
        generate(runs[key], n=n, mode=mode, seed=0, out=os.path.join(grids, f"{key}_{mode}.png"))
    figures["sample_grid_seconds"] = round(time.time() - started, 1)

    # Sample quality of the GAN (and of the VAE's decoded means, for comparison).
    for key in ("dcgan", "vae"):
        images = generate(runs[key], n=n_fid, seed=1)
        quality = sample_quality(images, runs["lenet5_features"], data_dir=args.data_dir,
                                 limit=2048 if args.quick else None)
        figures[key]["frechet"] = quality
        print(f"{key} Fréchet distance {quality['frechet_distance']:.2f} (floor {quality['floor']:.2f})", flush=True)
    figures["grids"] = os.path.relpath(grids)
    print(f"results written to {write_results('generative_quick' if args.quick else 'generative', figures)}")


if __name__ == "__main__":
    main()

"""`kerazoo train`: train a zoo model into a run directory (resumes an interrupted run)."""

from __future__ import annotations

from kerazoo.cli import add_parser

# Flags that map onto config fields; anything else is a FIELD=VALUE override.
FLAG_FIELDS = {
    "dataset": "data.dataset",
    "data_dir": "data.data_dir",
    "epochs": "epochs",
    "batch_size": "data.batch_size",
    "lr": "optimizer.lr",
    "seed": "seed",
    "strategy": "strategy",
    "steps_per_epoch": "steps_per_epoch",
    "limit": "data.limit",
    "stream": "data.stream",
    "precision": "precision",
    "backbone": "model.kwargs.backbone",
    "backbone_from": "model.backbone_from",
    "backbone_weights": "model.backbone_weights",
    "freeze_epochs": "model.freeze_epochs",
    "init_from": "model.init_from",
    "weights": "model.weights",
    "adversarial": "adversarial.method",
    "eps": "adversarial.eps",
    "adv_steps": "adversarial.steps",
    "teacher": "distill.teacher",
}


def positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers):
    p = add_parser(
        subparsers, "train", help="train a zoo model; writes runs/NAME/ (config, metrics, checkpoints, TensorBoard)",
        example="kerazoo train resnet20 --dataset fashion_mnist --epochs 2 --batch-size 128 --strategy mirrored --out runs/r20",
    )
    p.add_argument("model", nargs="?", help="registered model name (default: the config's, else resnet20)")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="config overrides, e.g. optimizer.lr=0.05")
    p.add_argument("--config", help="experiment YAML file, or a shipped recipe's name (e.g. fashion_lenet5)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--dataset", help="dataset name (fashion_mnist, mnist, digits or a tensorflow-datasets name); "
                   "dense heads also fashion_mnist_scenes, coco:DIR, voc:DIR, masks:DIR")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, help="global batch size")
    p.add_argument("--lr", type=float, help="learning rate at the base batch size")
    p.add_argument("--seed", type=int)
    p.add_argument("--strategy", choices=["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--steps-per-epoch", type=positive_int,
                   help="cap the steps of each epoch (the next epoch goes on through the data)")
    p.add_argument("--limit", type=positive_int, help="use only the first N training examples")
    p.add_argument("--stream", action="store_true", default=None,
                   help="generated datasets: new examples without end, --steps-per-epoch batches an epoch")
    p.add_argument("--adversarial", choices=["none", "fgsm", "pgd"],
                   help="adversarial training: FGSM mix (Goodfellow et al.) or PGD (Madry et al.)")
    p.add_argument("--eps", type=float, help="adversarial budget (L-infinity) as a fraction of the pixel range")
    p.add_argument("--adv-steps", type=positive_int, help="PGD steps per training batch")
    p.add_argument("--teacher", metavar="RUN",
                   help="distill from a trained run (distill.temperature=4 distill.alpha=0.9 by default)")
    p.add_argument("--backbone", help="dense heads (unet, fcn8s, segnet, localizer, ...): the zoo backbone, e.g. resnet20")
    p.add_argument("--backbone-from", metavar="RUN", help="dense heads: start the backbone from a classification run")
    p.add_argument("--backbone-weights", metavar="WEIGHTS",
                   help="dense heads: start the backbone from pretrained weights (imagenet, a tag or a weights file)")
    p.add_argument("--freeze-epochs", type=positive_int,
                   help="with --backbone-from or --backbone-weights: epochs before unfreezing the backbone")
    p.add_argument("--init-from", metavar="RUN",
                   help="start every weight from a run of the same model (train it further on a new schedule)")
    p.add_argument("--weights", help="classifiers: start from pretrained weights (imagenet, a tag, or a weights file) "
                                     "with a new head; transfer.head_epochs=1 transfer.lr_factor=0.1 by default")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run instead of resuming it")
    p.add_argument("--no-speed", action="store_true",
                   help="plain settings instead of the fast defaults (no XLA, 1 step per execution, float32, TF's "
                        "threads, Keras' batch norm, no oneDNN); one at a time: jit_compile=false "
                        "steps_per_execution=1 precision=float32 threads=0 fused_batch_norm=false")
    p.add_argument("--profile", action="store_true",
                   help="write a TensorBoard trace of a few steps to OUT/tb and print where the time goes")
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.cli import check_config, output
    from kerazoo.training import load_config

    overrides = list(args.overrides)
    if args.model:
        if "=" in args.model:
            overrides.insert(0, args.model)
        else:
            overrides.insert(0, f"model.name={args.model}")
    for flag, field in FLAG_FIELDS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{field}={value}")
    if args.no_speed:
        overrides.append("speed=false")
    config = load_config(args.config, overrides)
    check_config(config)  # unknown names and missing folders fail before TensorFlow loads
    output.stage(f"training {config.model.name} on {config.data.dataset} into {args.out}")
    from kerazoo.training import train

    run_dir = train(config, args.out, overwrite=args.overwrite, profile=args.profile)
    print(f"run written to {run_dir}")
    return 0

"""`kerazoo search`: coarse-to-fine random hyperparameter search in log space; a table and a scatter plot."""

from __future__ import annotations

from kerazoo.cli import add_parser
from kerazoo.cli.train import positive_int


def parse_range(text: str) -> tuple[str, tuple[float, float]]:
    """``optimizer.lr=1e-4:1`` → ("optimizer.lr", (1e-4, 1.0))."""
    import argparse

    try:
        name, bounds = text.split("=", 1)
        low, high = (float(v) for v in bounds.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIELD=LOW:HIGH, e.g. optimizer.lr=1e-4:1, got {text!r}") from None
    return name.strip(), (low, high)


def register(subparsers):
    p = add_parser(
        subparsers, "search", help="random hyperparameter search in log space (coarse then fine stages)",
        example="kerazoo search resnet20 --dataset fashion_mnist --param optimizer.lr=1e-3:1 "
                "--param optimizer.weight_decay=1e-6:1e-2 --trials 8 --epochs 1 --out runs/search_r20",
    )
    p.add_argument("model", help="registered model name")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="config overrides of every trial")
    p.add_argument("--param", type=parse_range, action="append", required=True, metavar="FIELD=LOW:HIGH",
                   help="a config field to search, log-uniformly between LOW and HIGH (repeatable)")
    p.add_argument("--config", help="experiment YAML file, or a shipped recipe's name (e.g. fashion_lenet5)")
    p.add_argument("--dataset")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=positive_int, default=1, help="epochs per trial")
    p.add_argument("--steps-per-epoch", type=positive_int, help="cap the steps of each trial's epochs")
    p.add_argument("--limit", type=positive_int, help="use only the first N training examples")
    p.add_argument("--trials", type=positive_int, default=8, help="trials per stage")
    p.add_argument("--stages", type=positive_int, default=2, help="1 = coarse only; more = refine around the best")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for results.json and search.png")
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.cli import check_config
    from kerazoo.training import load_config

    flags = [f"model.name={args.model}", f"epochs={args.epochs}"]
    for flag, field in (("dataset", "data.dataset"), ("data_dir", "data.data_dir"),
                        ("steps_per_epoch", "steps_per_epoch"), ("limit", "data.limit")):
        if getattr(args, flag) is not None:
            flags.append(f"{field}={getattr(args, flag)}")
    config = load_config(args.config, [*flags, *args.overrides])
    check_config(config)
    from kerazoo.training.search import search

    result = search(config, dict(args.param), trials=args.trials, stages=args.stages, seed=args.seed, out=args.out)
    print(result.table())
    print(f"best: {result.best['params']} (val accuracy {result.best['val_accuracy']:.4f})")
    return 0

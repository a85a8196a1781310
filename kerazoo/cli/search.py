"""`kerazoo search`: coarse-to-fine random hyperparameter search in log space (a table and a scatter plot), or, with
``--method nas`` / ``nas_random``, architecture search (an RL controller, or the random baseline at the same budget)."""

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
        subparsers, "search", help="hyperparameter search in log space, or architecture search (--method nas)",
        example="kerazoo search resnet20 --dataset fashion_mnist --param optimizer.lr=1e-3:1 "
                "--param optimizer.weight_decay=1e-6:1e-2 --trials 8 --epochs 1 --out runs/search_r20\n"
                "  kerazoo search --method nas optimizer.name=adam optimizer.lr=3e-3 data.augment=[] "
                "--children 20 --child-steps 150 --out runs/nas   # then: kerazoo train --config runs/nas/best.yaml",
    )
    p.add_argument("model", nargs="?", help="registered model name (random search; nas searches nas_cnn children)")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="config overrides of every trial")
    p.add_argument("--method", default="random", choices=("random", "nas", "nas_random"),
                   help="random: hyperparameters (--param); nas: architectures by an RL controller (Zoph and Le, "
                        "2017); nas_random: architectures drawn uniformly (the baseline, same budget)")
    p.add_argument("--param", type=parse_range, action="append", metavar="FIELD=LOW:HIGH",
                   help="random: a config field to search, log-uniformly between LOW and HIGH (repeatable)")
    p.add_argument("--children", type=positive_int, default=20, help="nas: child networks trained (the budget)")
    p.add_argument("--child-steps", type=positive_int, default=150, help="nas: training steps of each child")
    p.add_argument("--config", help="experiment YAML file, or a shipped recipe's name (e.g. fashion_lenet5)")
    p.add_argument("--dataset")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=positive_int, help="epochs per trial (default 1); nas: epochs of the "
                                                         "written best.yaml (children train --child-steps steps)")
    p.add_argument("--steps-per-epoch", type=positive_int, help="cap the steps of each trial's epochs (nas: of "
                                                                "best.yaml's epochs)")
    p.add_argument("--limit", type=positive_int, help="use only the first N training examples")
    p.add_argument("--trials", type=positive_int, default=8, help="trials per stage")
    p.add_argument("--stages", type=positive_int, default=2, help="1 = coarse only; more = refine around the best")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for results.json and search.png (nas: also controller.npz, best.yaml, "
                                 "rewards.png); rerun with the same arguments to resume a killed search")
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    if args.method != "random":
        return run_nas(args)
    if args.model is None or not args.param:
        raise ValueError("search --method random needs a model and at least one --param FIELD=LOW:HIGH. Received: "
                         f"model={args.model!r}, --param={args.param!r}")
    from kerazoo.cli import check_config
    from kerazoo.training import load_config

    flags = [f"model.name={args.model}", f"epochs={args.epochs or 1}"]
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


def run_nas(args):
    """Architecture search: every child is nas_cnn; the config overrides set its data, batch size and optimizer."""
    from kerazoo.cli import check_config

    overrides = list(args.overrides)
    if args.model is not None and "=" in args.model:  # no model given: the first override landed in its place
        overrides.insert(0, args.model)
    elif args.model is not None and args.model.replace("-", "_").lower() != "nas_cnn":
        raise ValueError(f"search --method {args.method} searches nas_cnn architectures; leave the model out. "
                         f"Received: model={args.model!r}")
    if args.param:
        raise ValueError(f"--param is for --method random (hyperparameters), not {args.method}. Received: "
                         f"--param={[f'{k}={lo}:{hi}' for k, (lo, hi) in args.param]!r}")
    from kerazoo.training import load_config

    flags = ["model.name=nas_cnn"]
    for flag, field in (("dataset", "data.dataset"), ("data_dir", "data.data_dir"), ("limit", "data.limit"),
                        ("epochs", "epochs"), ("steps_per_epoch", "steps_per_epoch")):
        if getattr(args, flag) is not None:
            flags.append(f"{field}={getattr(args, flag)}")
    config = load_config(args.config, [*flags, *overrides])
    check_config(config)
    from kerazoo.training.nas import nas_search

    result = nas_search(config, method=args.method, children=args.children, child_steps=args.child_steps,
                        seed=args.seed, out=args.out, verbose=1)
    print(result.table())
    best = result.best
    print(f"best: child {best['child']} (val accuracy {best['val_accuracy']:.4f})"
          + (f"; its training config: {args.out}/best.yaml" if args.out else ""))
    return 0

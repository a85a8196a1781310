"""`kerazoo doctor`: run the babysitting checklist on a zoo model and a dataset; one verdict per check."""

from __future__ import annotations

from kerazoo.cli import add_parser
from kerazoo.cli.train import positive_int


def register(subparsers):
    p = add_parser(
        subparsers, "doctor",
        help="check a model and recipe before training: initial loss, overfitting 20 examples, lr range test, "
             "update ratios, dead ReLUs, vanishing/exploding gradients, NaN guard",
        example="kerazoo doctor resnet20 optimizer.lr=0.1 --dataset fashion_mnist --out doctor/r20",
    )
    p.add_argument("model", help="registered model name")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="training-config overrides (the recipe)")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-dir")
    p.add_argument("--config", help="experiment YAML file, or a shipped recipe's name (e.g. fashion_lenet5)")
    p.add_argument("--out", help="folder for doctor.json and lr_range.png")
    p.add_argument("--checks", help="comma-separated subset of the checks (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="examples in the statistics batch")
    p.add_argument("--overfit-steps", type=positive_int, default=200)
    p.add_argument("--lr-range-steps", type=positive_int, default=60)
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.cli import check_config
    from kerazoo.training import load_config

    flags = [f"model.name={args.model}", f"data.dataset={args.dataset}"]
    flags += [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    config = load_config(args.config, [*flags, *args.overrides])
    check_config(config)
    from kerazoo.doctor import DoctorOptions, diagnose

    options = DoctorOptions(batch_size=args.batch_size, overfit_steps=args.overfit_steps,
                            lr_range_steps=args.lr_range_steps)
    checks = args.checks.split(",") if args.checks else None
    report = diagnose(config=config, checks=checks, options=options, out=args.out)
    print(report.table())
    return 0 if report.passed else 1

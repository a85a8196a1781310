"""`kerazoo robustness`: accuracy against ε under an attack, for a run or an exported SavedModel (report files)."""

from __future__ import annotations

from kerazoo.cli import add_parser


def eps_list(text: str) -> list[float]:
    import argparse

    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.01,0.03,0.1, got {text!r}") from None


def register(subparsers):
    p = add_parser(
        subparsers, "robustness",
        help="attack a run or SavedModel at several eps: accuracy table (JSON), curve and example grid (PNG)",
        example="kerazoo robustness runs/lenet --attack pgd --eps 0.01,0.03,0.1,0.2 --out report/",
    )
    p.add_argument("path", help="run directory, .keras file or SavedModel (model-repository version) directory")
    p.add_argument("--attack", choices=["pgd", "ifgsm", "fgsm"], default="pgd")
    p.add_argument("--eps", type=eps_list, default=[0.01, 0.03, 0.1, 0.2],
                   help="budgets as fractions of the pixel range (0.1 = 25.5 grey levels)")
    p.add_argument("--norm", choices=["linf", "l2"], default="linf")
    p.add_argument("--steps", type=int, default=20, help="attack steps (pgd, ifgsm)")
    p.add_argument("--step-size", type=float, help="step as a fraction of the pixel range (default 2.5*eps/steps)")
    p.add_argument("--restarts", type=int, default=1, help="random restarts (pgd)")
    p.add_argument("--out", default="report", help="folder for robustness.json, robustness.png, examples.png")
    p.add_argument("--dataset", help="dataset (default: the one the model was trained on)")
    p.add_argument("--split", help="split (default: the run's test split)")
    p.add_argument("--data-dir")
    p.add_argument("--limit", type=int, default=1000, help="attack only the first N examples")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.adversarial.robustness import format_report, robustness_report

    report = robustness_report(
        args.path, attack=args.attack, eps=args.eps, out=args.out, norm=args.norm, steps=args.steps,
        step_size=args.step_size, restarts=args.restarts, dataset=args.dataset, split=args.split,
        data_dir=args.data_dir, limit=args.limit, seed=args.seed,
    )
    print(format_report(report))
    print(f"report written to {args.out}")
    return 0

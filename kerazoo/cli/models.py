"""`kerazoo models`: list the registry, or show one model's facts."""

from __future__ import annotations

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(subparsers, "models", help="list registered models, or show one", example="kerazoo models 'resnet*'")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, or an exact name to show")
    p.add_argument("--task", default=None, help="only this task (classification, detection, ...)")
    p.set_defaults(func=run)


def run(args):
    from kerazoo.applications import get_entry, list_models, model_info

    names = list_models(args.pattern, task=args.task)
    if not names:
        get_entry(args.pattern)  # raises with the closest names
    if len(names) == 1 and names[0] == args.pattern.lower():
        for key, value in model_info(names[0]).items():
            print(f"{key:>14}: {value}")
        return 0
    print(f"{'name':<24}{'family':<18}{'year':>6}  paper")
    for name in names:
        e = get_entry(name)
        print(f"{name:<24}{e.family:<18}{e.year:>6}  {e.paper}")
    return 0

"""`kerazoo runs list|show`: the run directories under runs/, as tables."""

from __future__ import annotations

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(subparsers, "runs", help="list the runs under runs/, or show one (config, metrics, files)",
                   example="kerazoo runs list --root runs   |   kerazoo runs show demo_lenet5")
    verbs = p.add_subparsers(dest="runs_verb", metavar="{list,show}")
    verbs.required = True
    listing = add_parser(verbs, "list", help="one line per run: model, dataset, epochs, accuracies, status",
                         example="kerazoo runs list --root runs")
    listing.add_argument("--root", default="runs", help="folder holding the run directories")
    listing.set_defaults(func=run_list)
    show = add_parser(verbs, "show", help="one run: config summary, per-epoch metrics, files",
                      example="kerazoo runs show demo_lenet5")
    show.add_argument("name", help="run name under --root, or a run directory")
    show.add_argument("--root", default="runs", help="folder holding the run directories")
    show.set_defaults(func=run_show)


def run_list(args):
    from kerazoo.training.runs import format_runs, list_runs

    print(format_runs(list_runs(args.root)))
    return 0


def run_show(args):
    from kerazoo.training.runs import format_run, resolve_run, show_run

    print(format_run(show_run(resolve_run(args.name, args.root))))
    return 0

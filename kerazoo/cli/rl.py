"""`kerazoo rl train|eval|record|export|plot`: reinforcement learning on Gymnasium (kerazoo.rl).

`kerazoo rl train ALGO [--field value ...]` takes one flag per field of the algorithm's ``Args`` dataclass
(``--learning-rate 1e-3``, ``--double-q``/``--no-double-q``, ``--hidden-sizes 256,256``); `kerazoo rl train ALGO
--help` lists them with their defaults. Keras and TensorFlow are imported only once a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

from kerazoo.cli import Parser, _Formatter, add_parser

ALGORITHMS = ("dqn", "reinforce", "a2c")
TRAIN_EXAMPLE = "kerazoo rl train dqn --env CartPole-v1 --steps 50000 --seed 0 --out runs/dqn_cartpole"


def register(subparsers):
    p = add_parser(subparsers, "rl", help="train, evaluate, record and export RL agents (DQN, REINFORCE, A2C)",
                   example=TRAIN_EXAMPLE)
    actions = p.add_subparsers(dest="rl_action", metavar="ACTION")
    actions.required = True

    t = add_parser(actions, "train", help="train an agent into a run directory (resumes an unfinished one)",
                   example=TRAIN_EXAMPLE)
    t.add_argument("algorithm", choices=ALGORITHMS, help="the algorithm")
    t.add_argument("options", nargs=argparse.REMAINDER,
                   help="the algorithm's arguments; `kerazoo rl train ALGO --help` lists them")
    t.set_defaults(func=run_train)

    e = add_parser(actions, "eval", help="deterministic evaluation of a run's policy",
                   example="kerazoo rl eval runs/dqn_cartpole --episodes 20")
    e.add_argument("run", help="run directory")
    e.add_argument("--episodes", type=int, default=20, help="number of episodes")
    e.add_argument("--seed", type=int, default=None, help="seed of episode 0 (default: the run's seed + 100000)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=run_eval)

    r = add_parser(actions, "record", help="play the policy with rgb_array rendering and write a GIF",
                   example="kerazoo rl record runs/dqn_cartpole --out cartpole.gif")
    r.add_argument("run", help="run directory")
    r.add_argument("--out", required=True, help="the .gif to write")
    r.add_argument("--episodes", type=int, default=1, help="number of episodes")
    r.add_argument("--seed", type=int, default=None, help="seed of episode 0 (default: the run's seed + 100000)")
    r.add_argument("--fps", type=int, default=30, help="frames per second of the GIF")
    r.add_argument("--max-frames", type=int, default=1000, help="stop after this many frames")
    r.add_argument("--scale", type=float, default=1.0, help="resize frames by this factor")
    r.set_defaults(func=run_record)

    x = add_parser(actions, "export", help="write a run's policy as a SavedModel (serving_default)",
                   example="kerazoo rl export runs/dqn_cartpole --out models/dqn_cartpole/1")
    x.add_argument("run", help="run directory")
    x.add_argument("--out", required=True, help="SavedModel directory to write (e.g. models/NAME/VERSION)")
    x.set_defaults(func=run_export)

    g = add_parser(actions, "plot", help="draw the returns of one or more runs (seeds overlaid) as a PNG",
                   example="kerazoo rl plot runs/dqn_s0 runs/dqn_s1 runs/dqn_s2 --out dqn_seeds.png")
    g.add_argument("runs", nargs="+", help="run directories, overlaid")
    g.add_argument("--out", required=True, help="the .png to write")
    g.add_argument("--title", default=None, help="figure title (default: algorithm and environment)")
    g.set_defaults(func=run_plot)


def _int_list(text: str) -> list:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 256,256; got {text!r}") from None


def algorithm_parser(name: str, module) -> argparse.ArgumentParser:
    """One flag per field of ``module.Args``; only the flags given end up in the namespace (presets apply below)."""
    from kerazoo.rl.arguments import field_docs

    cls = module.Args
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    defaults = cls()
    presets = ", ".join(module.PRESETS) or "none"
    parser = Parser(
        prog=f"kerazoo rl train {name}", formatter_class=_Formatter,
        description=f"{(module.__doc__ or '').strip().splitlines()[0]}\n\nexample:\n  {TRAIN_EXAMPLE.replace('dqn', name)}",
        epilog=f"Tuned presets (applied under the flags you give) exist for: {presets}. "
               "The resolved arguments are written to RUN/config.yaml.")
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = getattr(defaults, f.name)
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS, "help": f"{docs.get(f.name, '')} (default: {default})"}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif tp is list:
            kwargs.update(type=_int_list, metavar="N,N")
        elif typing.get_origin(tp) is typing.Union:
            kwargs["type"] = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            kwargs["type"] = tp
        parser.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)
    return parser


def run_train(args):
    from kerazoo import rl

    module = rl.algorithm(args.algorithm)
    options = vars(algorithm_parser(args.algorithm, module).parse_args(args.options))
    run_dir = module.train(module.make_args(**options))
    with open(f"{run_dir}/summary.json", encoding="utf-8") as f:
        summary = json.load(f)
    line = f"{run_dir}: {summary['steps']} steps in {summary['train_seconds']:.1f} s ({summary['sps']:.0f} steps/s)"
    if "eval" in summary:
        line += f"; eval {summary['eval']['mean']:.1f} +- {summary['eval']['std']:.1f} over {summary['eval']['episodes']}"
    print(line)
    return 0


def run_eval(args):
    from kerazoo.rl.evaluate import evaluate

    result = evaluate(args.run, episodes=args.episodes, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['algorithm']} on {result['env']}: {result['mean']:.2f} +- {result['std']:.2f} "
              f"over {result['episodes']} episodes (seeds {result['seed']}..{result['seed'] + result['episodes'] - 1})")
    return 0


def run_record(args):
    from kerazoo.rl.evaluate import record

    result = record(args.run, args.out, episodes=args.episodes, seed=args.seed, fps=args.fps,
                    max_frames=args.max_frames, scale=args.scale)
    print(f"wrote {result['path']}: {result['frames']} frames, returns {result['returns']}")
    return 0


def run_export(args):
    import os

    import keras

    from kerazoo.rl.run import export_policy, load_config

    config = load_config(args.run)
    path = os.path.join(args.run, "policy.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{args.run} has no policy.keras yet: the run has not finished.")
    model = keras.saving.load_model(path, safe_mode=True)
    kind = "q" if config["algorithm"] == "dqn" else "logits"
    print(f"wrote {export_policy(model, args.out, kind)}")
    return 0


def run_plot(args):
    from kerazoo.rl.plots import plot_returns

    print(f"wrote {plot_returns(args.runs, args.out, title=args.title)}")
    return 0

"""`kerazoo attack`: black-box transfer attack on any artifact (TFLite and ONNX included)."""

from __future__ import annotations

import json

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(
        subparsers, "attack",
        help="black-box transfer attack: craft on a substitute (Papernot et al.) or another model, measure on TARGET",
        example="kerazoo attack models/fashion_r20/1/model.tflite --eps 0.1 --rounds 4   # substitute from its answers",
    )
    p.add_argument("target", help="the attacked model: run, .keras, SavedModel, .tflite or .onnx (only queried)")
    p.add_argument("--source", help="craft on this run/.keras/SavedModel instead of training a substitute")
    p.add_argument("--attack", choices=["pgd", "ifgsm", "fgsm"], default="pgd")
    p.add_argument("--eps", type=float, default=0.1, help="budget as a fraction of the pixel range")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--substitute", default="lenet5", help="zoo architecture of the substitute")
    p.add_argument("--seed-examples", type=int, default=150, help="initial substitute training set (oracle-labelled)")
    p.add_argument("--rounds", type=int, default=4, help="substitute rounds (Jacobian augmentation between them)")
    p.add_argument("--epochs", type=int, default=10, help="substitute training epochs per round")
    p.add_argument("--dataset")
    p.add_argument("--split")
    p.add_argument("--data-dir")
    p.add_argument("--limit", type=int, default=1000, help="attacked examples")
    p.add_argument("--out", help="also write the figures to this JSON file")
    p.set_defaults(func=run)


def run(args):
    from kerazoo.adversarial.transfer import substitute_transfer_report
    from kerazoo.io import atomic_write_text

    report = substitute_transfer_report(
        args.target, source_path=args.source, attack=args.attack, eps=args.eps, steps=args.steps,
        substitute_model=args.substitute, seed_examples=args.seed_examples, rounds=args.rounds, epochs=args.epochs,
        dataset=args.dataset, split=args.split, data_dir=args.data_dir, limit=args.limit,
    )
    text = json.dumps(report, indent=1)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0

"""`kerazoo evaluate`: the metrics of a run (accuracy, a dense task's, a captioner's BLEU) or of any exported
artifact; every format of a repository version."""

from __future__ import annotations

import json
import os

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(
        subparsers, "evaluate", help="evaluate a run, a .keras/.tflite/.onnx file, a SavedModel or a whole version",
        example="kerazoo evaluate models/fashion_r20/1      # every format, side by side",
    )
    p.add_argument("path", help="run directory, model file, SavedModel or model-repository version directory")
    p.add_argument("--dataset", help="dataset (default: the one the model was trained on)")
    p.add_argument("--split", help="split (default: the run's test split)")
    p.add_argument("--data-dir")
    p.add_argument("--format", choices=["saved_model", "tflite", "tflite_int8", "onnx"],
                   help="with a version directory: evaluate only this artifact")
    p.add_argument("--limit", type=int, help="evaluate only the first N examples")
    p.add_argument("--beam", type=int, default=1, help="captioning runs: beam width of the decoding (1 = greedy)")
    p.add_argument("--scenes", type=int, help="captioning runs on Fashion-MNIST scenes: generate N test scenes (the "
                   "run's own first) instead of the run's test_count")
    p.set_defaults(func=run)


def sequence_run_kind(path: str) -> str | None:
    """"captioning" or "char_rnn" for the run directories of kerazoo.sequence (the service's config names the task;
    the runs written before hold words or characters in vocab.json), else None."""
    vocab_path = os.path.join(path, "vocab.json")
    if not os.path.isfile(vocab_path):
        config_path = os.path.join(path, "config.yaml")
        if not os.path.isfile(config_path):
            return None
        import yaml

        with open(config_path, encoding="utf-8") as f:
            task = (yaml.safe_load(f) or {}).get("task")
        return {"captioning": "captioning", "charrnn": "char_rnn"}.get(task)
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    return "captioning" if "words" in vocab else "char_rnn" if "chars" in vocab else None


def run(args):
    from kerazoo.cli import output

    kind = sequence_run_kind(args.path)
    for flag, value, default in (("--beam", args.beam, 1), ("--scenes", args.scenes, None)):
        if value != default and kind != "captioning":
            raise ValueError(f"{flag} applies to captioning runs only; {args.path} is not one.")
    if os.path.exists(args.path):
        output.stage(f"evaluating {args.path}")
    from kerazoo.export import compare_formats, evaluate_artifact, format_table

    if kind is not None:
        from kerazoo.sequence import captioning, charrnn

        result = (captioning.evaluate_caption_run(args.path, beam_width=args.beam, limit=args.limit,
                                                    scenes=args.scenes)
                  if kind == "captioning" else charrnn.evaluate_char_run(args.path))
        print(json.dumps(result, indent=1))
        return 0
    from kerazoo.runs import RunDir

    if RunDir(args.path).exists():  # a run: non-classifiers go to their Task
        from kerazoo.training.run import evaluate_model, load_run_config
        from kerazoo.training.tasks import task_for_model

        config = load_run_config(args.path)
        if task_for_model(config.model.name).name != "classification":
            result = evaluate_model(RunDir(args.path).load_model(), config, split=args.split, limit=args.limit)
            print(json.dumps(result, indent=1))
            return 0
    if os.path.isdir(args.path) and os.path.exists(os.path.join(args.path, "kerazoo.json")) and not args.format:
        rows = compare_formats(args.path, split=args.split, data_dir=args.data_dir, limit=args.limit)
        print(format_table(rows))
        return 0
    result = evaluate_artifact(args.path, dataset=args.dataset, split=args.split, data_dir=args.data_dir,
                               limit=args.limit, fmt=args.format)
    print(json.dumps(result, indent=1))
    return 0

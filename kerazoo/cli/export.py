"""`kerazoo export`: a run → REPO/NAME/VERSION/ (SavedModel, TFLite float and int8, ONNX) with parity checks."""

from __future__ import annotations

import json

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(
        subparsers, "export", help="export a run into the model repository (TF Serving layout) with parity checks",
        example="kerazoo export runs/r20 --repo models --name fashion_r20 --formats saved_model,tflite,tflite_int8,onnx",
    )
    p.add_argument("run", help="run directory")
    p.add_argument("--repo", default="models", help="model repository root")
    p.add_argument("--name", required=True, help="model name in the repository")
    p.add_argument("--formats", default="saved_model,tflite,tflite_int8,onnx")
    p.add_argument("--version", type=int, help="version number (default: the next one)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=run)


# What each format needs beyond the base install (its writer, or the reader of its parity check).
FORMAT_MODULES = {"saved_model": (), "tflite": ("ai_edge_litert",), "tflite_int8": ("ai_edge_litert",),
                  "onnx": ("tf2onnx", "onnxruntime")}


def run(args):
    from kerazoo.cli import existing_folder, output, require

    existing_folder("RUN", args.run)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for fmt in formats:
        if fmt not in FORMAT_MODULES:
            raise ValueError(f"Unknown format {fmt!r} in --formats; choose from {', '.join(FORMAT_MODULES)}.")
        require(*FORMAT_MODULES[fmt])
    output.stage(f"exporting {args.run} ({', '.join(formats)}) into {args.repo}/{args.name}")
    from kerazoo.export import export_run

    version_dir = export_run(args.run, args.repo, args.name, formats=args.formats, version=args.version,
                             checkpoint=args.checkpoint)
    with open(f"{version_dir}/export_report.json", encoding="utf-8") as f:
        report = json.load(f)
    print(f"exported {version_dir}")
    print(f"{'format':<13}{'bytes':>12}{'max |logit diff|':>18}{'top-1 agree':>13}  limit")
    for fmt, r in report["formats"].items():
        print(f"{fmt:<13}{r['bytes']:>12}{r['max_abs_logit_diff']:>18.2e}{r['top1_agreement']:>13.2%}  {r['limit']}")
    return 0

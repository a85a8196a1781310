"""`kerazoo optimize`: deep compression of a run ([low-rank →] [dense-sparse-dense →] prune → cluster → quantize) into
the model repository."""

from __future__ import annotations

from kerazoo.cli import add_parser


def _m_by_n(text: str):
    try:
        m, n = (int(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"Invalid --structured: expected M:N such as 2:4. Received: {text!r}") from None
    return m, n


def _lowrank(text: str):
    """``--lowrank 0.9`` keeps 90 % of each kernel's energy; ``--lowrank 8`` factorizes at rank 8."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"Invalid --lowrank: expected an energy ratio such as 0.9 or a rank such as 8. "
                         f"Received: {text!r}") from None


def register(subparsers):
    p = add_parser(
        subparsers, "optimize", help="compress a run (prune, cluster, quantize) into REPO/NAME/VERSION with a report",
        example="kerazoo optimize runs/r20 --prune 0.8 --cluster 16 --quantize int8 --finetune-epochs 2 "
                "--out models/r20_small",
    )
    p.add_argument("run", help="run directory")
    p.add_argument("--out", required=True, help="model folder REPO/NAME; the next version is written inside it")
    p.add_argument("--lowrank", help="first factorize Dense/Conv2D kernels by truncated SVD: an energy ratio "
                                      "(0.9 keeps 90 %% of each kernel's squared singular values) or a rank (8)")
    p.add_argument("--dsd", type=float, metavar="SPARSITY",
                   help="dense-sparse-dense training: prune to SPARSITY and train --finetune-epochs, then restore the "
                        "pruned weights at zero and train dense --finetune-epochs at --lr/10; reported against "
                        "plain fine-tuning for as many epochs")
    p.add_argument("--prune", type=float, help="target sparsity, e.g. 0.8")
    p.add_argument("--schedule", choices=["constant", "polynomial"], default="polynomial", help="pruning schedule")
    p.add_argument("--structured", help="M:N structured sparsity instead of --prune's fraction, e.g. 2:4")
    p.add_argument("--exclude", default="", help="comma-separated layer names to leave dense and unclustered")
    p.add_argument("--cluster", type=int, help="shared weight values per layer, e.g. 16")
    p.add_argument("--quantize", choices=["float32", "dynamic", "float16", "int8"], help="TFLite quantization")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before int8 conversion")
    p.add_argument("--finetune-epochs", type=int, default=2, help="fine-tuning epochs of each stage")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="fine-tuning learning rate (Adam; clustering and QAT use a tenth)")
    p.add_argument("--limit", type=int, help="fine-tune on the first N training examples only")
    p.add_argument("--test-limit", type=int, help="measure accuracy on the first N test examples only")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--version", type=int, help="version number (default: the next one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.optimize.pipeline import compress_run, print_report

    m_by_n = _m_by_n(args.structured) if args.structured else None
    prune = args.prune if args.prune is not None or m_by_n is None else 0.5
    version_dir, report = compress_run(
        args.run, args.out, lowrank=_lowrank(args.lowrank) if args.lowrank else None, dsd=args.dsd, prune=prune, cluster=args.cluster, quantize=args.quantize, qat=args.qat,
        finetune_epochs=args.finetune_epochs, schedule=args.schedule, m_by_n=m_by_n,
        exclude=[name for name in args.exclude.split(",") if name], lr=args.lr, train_limit=args.limit,
        test_limit=args.test_limit, checkpoint=args.checkpoint, version=args.version, seed=args.seed,
    )
    print(f"wrote {version_dir}")
    print(print_report(report))
    return 0

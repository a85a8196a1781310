"""`kerazoo visualize RUN METHOD`: one picture of what a trained run learned (kerazoo.visualize)."""

from __future__ import annotations

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(
        subparsers, "visualize", help="draw what a run learned: filters, saliency, Grad-CAM, t-SNE, ... as a PNG",
        example="kerazoo visualize runs/fashion_r20 gradcam --dataset fashion_mnist --index 3 --out figures/",
    )
    p.add_argument("run", help="run directory (its best checkpoint is used)")
    p.add_argument("method", metavar="METHOD", nargs="?",
                   help="what to draw: filters, activations, saliency, gradcam, tsne, glimpses, ... "
                        "(docs/visualize.md; an unknown name lists them all)")
    p.add_argument("--method", dest="method_flag", metavar="METHOD", help="METHOD given as a flag instead")
    p.add_argument("--out", required=True, help="folder for METHOD.png")
    p.add_argument("--image", help="image file, fitted to the model's input (None: example --index of --dataset)")
    p.add_argument("--dataset", help="dataset of the example image (None: the run's)")
    p.add_argument("--index", type=int, default=0, help="index of the example in --split")
    p.add_argument("--split", default="test")
    p.add_argument("--data-dir")
    p.add_argument("--layer", help="layer name (None: the last spatial layer, as Grad-CAM takes)")
    p.add_argument("--class", dest="class_index", type=int, help="class to explain (None: the example's label, else the prediction)")
    p.add_argument("--limit", type=int, default=500, help="examples used by max_patches, tsne and neighbors")
    p.add_argument("--steps", type=int, help="optimization steps (class_model, deepdream, inversion)")
    p.set_defaults(func=run, out_is_folder=True)


def run(args):
    from kerazoo.visualize import visualize

    if args.image and args.dataset:
        raise ValueError("Pass either --image or --dataset (with --index), not both.")
    if bool(args.method) == bool(args.method_flag):
        raise ValueError(f"Pass the method once: as METHOD or as --method. Received: METHOD={args.method!r}, "
                         f"--method={args.method_flag!r}")
    path = visualize(args.run, args.method or args.method_flag, out=args.out, image=args.image, dataset=args.dataset,
                     index=args.index, split=args.split, data_dir=args.data_dir, layer=args.layer, class_index=args.class_index,
                     limit=args.limit, steps=args.steps)
    print(path)
    return 0

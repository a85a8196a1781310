"""`kerazoo style`: neural style transfer (Gatys et al.), and fast feed-forward networks (Johnson et al.).

    kerazoo style CONTENT STYLE [STYLE ...] --out out.png          optimize the image (L-BFGS or Adam)
    kerazoo style train-fast STYLE [STYLE ...] --out net.keras     train a transformation network
    kerazoo style apply NET.keras CONTENT --out out.png            run a trained network
"""

from __future__ import annotations

from kerazoo.cli import add_parser

MODES = ("train-fast", "apply")


def register(subparsers):
    p = add_parser(
        subparsers, "style",
        help="style transfer: CONTENT STYLE..., or train-fast STYLE..., or apply NET.keras CONTENT "
             "(--weights imagenet: keras.applications' VGG19 weights, fetched once or placed in $KERAZOO_WEIGHTS_DIR)",
        example="kerazoo style content.png style.png --out out.png --weights vgg19_notop.h5 --size 256",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="CONTENT STYLE [STYLE ...] | train-fast STYLE [STYLE ...] | apply NET.keras CONTENT")
    p.add_argument("--out", required=True, help="the stylized image, a PNG (a .keras file for train-fast)")
    p.add_argument("--comparison", metavar="PNG", help="also write a figure of the content, styles and result")
    p.add_argument("--network", default="vgg19", help="zoo model used as the loss network")
    p.add_argument("--weights", help="local weights file of the loss network (e.g. ImageNet VGG-19, notop)")
    p.add_argument("--style-weights", help="comma-separated blend weights, one per style image")
    p.add_argument("--size", type=int, help="longer side of the content (train-fast: training crop side, default 64)")
    p.add_argument("--steps", type=int, default=100, help="optimization or training steps")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--tv-weight", type=float, default=1e-5)
    p.add_argument("--content", nargs="*", help="train-fast: content images (default: scikit-image's photos)")
    p.add_argument("--batch-size", type=int, default=4)
    p.set_defaults(func=run)


def run(args):
    from kerazoo.visualize import read_image
    from kerazoo.visualize import style

    mode = args.inputs[0] if args.inputs[0] in MODES else "transfer"
    paths = args.inputs[1:] if mode in MODES else args.inputs
    if mode == "apply":
        if len(paths) != 2:
            raise ValueError("Usage: kerazoo style apply NET.keras CONTENT --out out.png")
        import keras

        transform = keras.saving.load_model(paths[0], safe_mode=True)
        style.stylize(transform, read_image(paths[1]), size=args.size, out=args.out, comparison=args.comparison)
        print(args.out)
        return 0
    if mode == "transfer" and len(paths) < 2:
        raise ValueError("Usage: kerazoo style CONTENT STYLE [STYLE ...] --out out.png")
    if not paths:
        raise ValueError("Usage: kerazoo style train-fast STYLE [STYLE ...] --out net.keras")
    if mode == "train-fast" and args.comparison:
        raise ValueError("--comparison draws a stylized image: use it with CONTENT STYLE or apply, not train-fast.")
    weights = [float(w) for w in args.style_weights.split(",")] if args.style_weights else None
    if args.weights is None:
        print(f"note: {style.WEIGHTS_NOTE}")
    network = style.loss_network(args.network, weights=args.weights)
    common = dict(network=network, style_weights=weights, content_weight=args.content_weight,
                  style_weight=args.style_weight, tv_weight=args.tv_weight, steps=args.steps)
    if mode == "train-fast":
        contents = [read_image(p) for p in args.content] if args.content else style.demo_photos()
        result = style.train_fast([read_image(p) for p in paths], contents, size=args.size or 64,
                                  batch_size=args.batch_size, out=args.out, **common)
        print(f"{args.out}: loss {result.losses[0]:.4g} → {result.losses[-1]:.4g} in {args.steps} steps")
        return 0
    result = style.gatys(read_image(paths[0]), [read_image(p) for p in paths[1:]], optimizer=args.optimizer,
                         size=args.size, out=args.out, comparison=args.comparison, **common)
    print(f"{args.out}: style loss {result.style_loss_before:.4g} → {result.style_loss_after:.4g}")
    return 0

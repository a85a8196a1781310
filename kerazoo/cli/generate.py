"""`kerazoo generate`: a PNG grid of images from a generative run (samples, interpolations, manifold, arithmetic)."""

from __future__ import annotations

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(
        subparsers, "generate", help="write a grid of generated images from a generative run (vae, dcgan, pixelcnn ...)",
        example="kerazoo generate runs/vae --n 64 --out samples.png",
    )
    p.add_argument("run", help="run directory of a generative model")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="samples",
                   choices=["samples", "interpolate", "manifold", "arithmetic", "reconstruct"],
                   help="what to draw (see kerazoo.generative.generate)")
    p.add_argument("--latents", help=".npy file of (n, latent_dim) latent vectors to decode (vae, dcgan)")
    p.add_argument("--label", type=int, help="class of every image, for a conditional GAN")
    p.set_defaults(func=run)


def run(args):
    import numpy as np

    from kerazoo.generative import generate

    latents = np.load(args.latents) if args.latents else None
    count = len(latents) if latents is not None else args.n
    labels = None if args.label is None else np.full(count, args.label)
    images = generate(args.run, n=args.n, seed=args.seed, mode=args.mode, latents=latents, labels=labels, out=args.out)
    print(f"{len(images)} images written to {args.out}")
    return 0

"""`kerazoo caption train ...` and `kerazoo caption RUN IMAGE`: image captioning (kerazoo.sequence.captioning)."""

from __future__ import annotations

from kerazoo.cli import add_parser

TRAIN_EXAMPLE = "kerazoo caption train --backbone resnet20 --attention --out runs/cap"


def register(subparsers):
    p = add_parser(
        subparsers, "caption",
        help="train an image captioner (`caption train ...`) or caption an image with a run (`caption RUN IMAGE`)",
        example=f"{TRAIN_EXAMPLE}\n  kerazoo caption runs/cap image.png --beam 3 --out attention.png",
    )
    p.add_argument("target", help="`train`, or the run directory of a trained captioner")
    p.add_argument("image", nargs="?", help="with a run directory: the image file to caption")
    p.add_argument("--out", help="train: the run directory to write; caption: the attention PNG to write")
    p.add_argument("--beam", type=int, default=3, help="caption: beam width (1 = greedy)")
    train = p.add_argument_group("train options")
    train.add_argument("--backbone", default="resnet20", help="zoo backbone (any model with feature taps)")
    train.add_argument("--attention", action="store_true", help="LSTM decoder with Show-Attend-Tell soft attention")
    train.add_argument("--decoder", default="lstm", choices=["lstm", "transformer"], help="decoder kind")
    train.add_argument("--backbone-from", metavar="RUN",
                       help="start the encoder from this classification run of the same backbone (fine-tuned)")
    train.add_argument("--backbone-weights", metavar="WEIGHTS",
                       help="start the encoder from pretrained weights: imagenet, a tag or a weights file "
                            "(docs/pretrained.md)")
    train.add_argument("--freeze-encoder", action="store_true",
                       help="with --backbone-from or --backbone-weights: keep the encoder's weights fixed, train the "
                            "decoder only")
    train.add_argument("--dataset", default="fashion_mnist_scenes", choices=["fashion_mnist_scenes", "coco_captions"])
    train.add_argument("--data-dir", default=None, help="where the dataset's files are")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--limit", type=int, default=3000, help="training examples")
    train.add_argument("--steps-per-epoch", type=int, default=None,
                       help="batches per epoch; with --limit = epochs x steps x batch size every epoch sees new scenes")
    train.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                       help="Adam's learning rate: constant, or cosine decay to 0 over the run")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--overwrite", action="store_true", help="replace a finished run in --out instead of refusing")
    p.set_defaults(func=run)


def run(args):
    if args.target == "train":
        from kerazoo.sequence.captioning import train_captioner

        if not args.out:
            raise ValueError("`kerazoo caption train` needs --out RUN_DIR.")
        run_dir = train_captioner(
            args.out, backbone=args.backbone, attention=args.attention, decoder=args.decoder, dataset=args.dataset,
            data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size, train_count=args.limit,
            steps_per_epoch=args.steps_per_epoch, seed=args.seed, backbone_from=args.backbone_from,
            backbone_weights=args.backbone_weights, freeze_encoder=args.freeze_encoder, lr_schedule=args.lr_schedule,
            overwrite=args.overwrite,
        )
        print(f"run written to {run_dir}")
        return 0
    from kerazoo.sequence.captioning import caption_image

    if not args.image:
        raise ValueError("`kerazoo caption RUN IMAGE`: give the image file to caption after the run directory.")
    caption, _, _ = caption_image(args.target, args.image, beam_width=args.beam, out=args.out)
    print(caption)
    if args.out:
        print(f"attention maps written to {args.out}")
    return 0

"""`kerazoo sequence train|sample|neurons`: character-level language models (kerazoo.sequence)."""

from __future__ import annotations

from kerazoo.cli import add_parser

TRAIN_EXAMPLE = "kerazoo sequence train --cell lstm --steps 2000 --out runs/char_lstm"


def register(subparsers):
    p = add_parser(subparsers, "sequence", help="train char-RNNs (RNN, LSTM, GRU), sample text, view hidden units",
                   example=TRAIN_EXAMPLE)
    actions = p.add_subparsers(dest="sequence_action", metavar="ACTION")
    actions.required = True

    t = add_parser(actions, "train", help="train a character-level language model by truncated BPTT",
                   example=TRAIN_EXAMPLE)
    t.add_argument("--cell", default="lstm", choices=["vanilla", "rnn", "lstm", "gru"],
                   help="recurrent cell (vanilla: kerazoo's readable cell; rnn/lstm/gru: Keras' layers)")
    t.add_argument("--corpus", default="fortunes", help="corpus name (see kerazoo.sequence.list_corpora) or a text file")
    t.add_argument("--steps", type=int, default=2000, help="training steps (one window of every stream each)")
    t.add_argument("--units", type=int, default=128, help="hidden units per layer")
    t.add_argument("--layers", type=int, default=2, help="recurrent layers")
    t.add_argument("--seq-len", type=int, default=64, help="truncated-BPTT length")
    t.add_argument("--batch-size", type=int, default=32, help="parallel text streams")
    t.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    t.add_argument("--clipnorm", type=float, default=5.0, help="global gradient-norm clip")
    t.add_argument("--max-chars", type=int, default=None, help="use only the corpus's first characters")
    t.add_argument("--eval-every", type=int, default=200, help="steps between validation measurements")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="run directory to write")
    t.add_argument("--overwrite", action="store_true", help="replace a finished run in --out instead of refusing")
    t.set_defaults(func=run_train)

    s = add_parser(actions, "sample", help="generate text from a trained run",
                   example='kerazoo sequence sample runs/char_lstm --prime "The " --length 400 --temperature 0.8')
    s.add_argument("run", help="run directory")
    add_sample_options(s)
    s.set_defaults(func=run_sample)

    n = add_parser(actions, "neurons", help="HTML view of one hidden unit's activation over a text",
                   example="kerazoo sequence neurons runs/char_lstm --unit 7 --out cell.html")
    n.add_argument("run", help="run directory")
    n.add_argument("--unit", type=int, required=True, help="hidden unit index")
    n.add_argument("--layer", type=int, default=None, help="recurrent layer, 1-based (default: the last)")
    n.add_argument("--text", default=None, help="text to read (default: the start of the run's validation text)")
    n.add_argument("--chars", type=int, default=2000, help="characters of the default text")
    n.add_argument("--out", required=True, help="the .html to write")
    n.set_defaults(func=run_neurons)


def add_sample_options(parser, prefix: str = "") -> None:
    """The sampling flags of a char-RNN run (`sequence sample`, and `predict` of such a run: ``prefix`` "char-RNN
    runs: " in its help)."""
    parser.add_argument("--prime", default="The ",
                        help=f"{prefix}text to start from (characters of the model's vocabulary)")
    parser.add_argument("--length", type=int, default=400, help=f"{prefix}characters to generate")
    parser.add_argument("--temperature", type=float, default=1.0, help=f"{prefix}softmax temperature (> 0)")
    parser.add_argument("--top-k", type=int, default=None, help=f"{prefix}sample only among the k likeliest characters")
    parser.add_argument("--seed", type=int, default=0, help=f"{prefix}seed of the sampling")


def run_train(args):
    from kerazoo.sequence.charrnn import train_char_rnn

    run = train_char_rnn(
        args.out, cell=args.cell, corpus=args.corpus, steps=args.steps, units=args.units, num_layers=args.layers,
        seq_len=args.seq_len, batch_size=args.batch_size, learning_rate=args.lr, clipnorm=args.clipnorm,
        max_chars=args.max_chars, eval_every=args.eval_every, seed=args.seed, overwrite=args.overwrite,
    )
    print(f"run written to {run}")


def run_sample(args):
    from kerazoo.sequence.charrnn import sample

    print(sample(args.run, prime=args.prime, length=args.length, temperature=args.temperature, top_k=args.top_k,
                 seed=args.seed))


def run_neurons(args):
    from kerazoo.sequence.charrnn import validation_text
    from kerazoo.sequence.neurons import write_unit_html

    text = args.text if args.text is not None else validation_text(args.run)[: args.chars]
    write_unit_html(args.run, text, unit=args.unit, layer=args.layer, out=args.out)
    print(f"unit {args.unit} over {len(text)} characters written to {args.out}")

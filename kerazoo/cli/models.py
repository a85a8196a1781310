"""`kerazoo models`: list the registry, show one model's card, or write every card to docs/models/."""

from __future__ import annotations

from kerazoo.cli import add_parser


def register(subparsers):
    p = add_parser(subparsers, "models", help="list registered models, show one model's card, or write the cards",
                   example="kerazoo models 'resnet*'   |   kerazoo models show lenet5   |   kerazoo models cards")
    p.add_argument("pattern", nargs="?", default="*",
                   help="fnmatch pattern; 'show NAME' prints NAME's model card; 'cards' writes docs/models/NAME.md")
    p.add_argument("name", nargs="?", help="with 'show': the model")
    p.add_argument("--task", default=None, help="only this task (classification, detection, ...)")
    p.add_argument("--pretrained", action="store_true", help="only models with pretrained weights (weights=TAG)")
    p.add_argument("--out", default=None, help="with 'cards': the folder (default docs/models)")
    p.add_argument("--results-dir", default=None,
                   help="bench result files to read (default: bench/results, or an installed package's snapshot)")
    p.add_argument("--configs-dir", default=None, help="recipe files to read (default: the shipped recipes)")
    p.set_defaults(func=run)


def run(args):
    from kerazoo.cli import names

    if args.pattern == "show" and args.name:
        names.check_model(args.name)
    elif args.pattern not in ("show", "cards") and not set(args.pattern) & set("*?["):
        names.check_model(args.pattern)  # a plain name is a card: a typo is answered before TensorFlow loads
    from kerazoo.applications import cards, get_entry, list_models, pretrained

    sources = {"results_dir": args.results_dir, "configs_dir": args.configs_dir or cards.CONFIGS_DIR}
    if args.pattern == "show":
        if not args.name:
            raise ValueError("Missing model name: `kerazoo models show NAME` (e.g. kerazoo models show lenet5).")
        print(cards.card_text(cards.model_card(get_entry(args.name).name, **sources)))
        return 0
    if args.pattern == "cards":
        names = [args.name] if args.name else None
        for path in cards.write_cards(args.out or cards.DOCS_DIR, names,
                                      **sources):
            print(path)
        return 0
    names = list_models(args.pattern, task=args.task)
    with_weights = set(pretrained.models_with_weights())
    if args.pretrained:
        names = [n for n in names if n in with_weights]
    if not names and not args.pretrained:
        get_entry(args.pattern)  # raises with the closest names
    if len(names) == 1 and not any(c in args.pattern for c in "*?["):  # one name, in any spelling (ResNet-50)
        print(cards.card_text(cards.model_card(names[0], **sources)))
        return 0
    print(f"{'name':<24}{'family':<18}{'year':>6}  {'pretrained weights':<34}paper")
    for name in names:
        e = get_entry(name)
        tags = [t.tag for t in pretrained.weight_tags(name)] if name in with_weights else []
        weights = (tags[0] + (f" (+{len(tags) - 1} tags)" if len(tags) > 1 else "")) if tags else "—"
        print(f"{name:<24}{e.family:<18}{e.year:>6}  {weights:<34}{e.paper}")
    return 0

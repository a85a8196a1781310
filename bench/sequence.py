"""Sequence benchmark (issue 11): char-RNN bits per character, captioning BLEU, ViT beside ResNet-20.

1. char-RNN: validation bits-per-character of the vanilla RNN (Keras SimpleRNN), LSTM and GRU at equal parameter
   count (each cell's width is chosen so its parameters match the LSTM's within a few percent), same steps.
2. Captioning on Fashion-MNIST scenes: BLEU-1..4 (nltk corpus_bleu) and the fraction of held-out test scenes whose
   caption names every object (greedy and beam-3 decoding), for the LSTM decoder with and without soft attention (and
   the transformer decoder);
   ``caption_transfer``: the two LSTM captioners with their encoder started from a ResNet-20 classification run;
   ``caption_encoder``: the attention captioner on that encoder, fine-tuned or frozen, cosine learning rate;
   ``caption_scenes``: the fine-tuned one again with new scenes in every epoch (same steps, epochs x more scenes).
3. ViT (vit_micro_p4) beside ResNet-20 on Fashion-MNIST: test accuracy and parameters, same recipe and epochs.

    python bench/sequence.py --quick                  # ~2 minutes: tiny settings, figures only show it runs
    python bench/sequence.py                          # the full run (the lead's, on an idle machine)
    python bench/sequence.py --parts caption --caption-epochs 5   # one part, cut down
    python bench/sequence.py --parts caption_scenes --variants new_scenes_every_epoch --caption-epochs 40 \
        --classifier-epochs 15 --results sequence_caption_scenes40       # one captioner of a part, its own file
"""

from __future__ import annotations

import argparse
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import write_results  # noqa: E402

FULL = dict(char_steps=3000, char_units=256, caption_train=6000, caption_eval=500, caption_epochs=15,
            caption_eager=False, classifier_epochs=3, vit_epochs=15, image_limit=None)
QUICK = dict(char_steps=40, char_units=32, caption_train=48, caption_eval=16, caption_epochs=1, caption_eager=True,
             classifier_epochs=1, vit_epochs=1, image_limit=256)


PARTS = ("char", "caption", "caption_transfer", "caption_encoder", "caption_scenes", "vit")


def units_for_params(cell: str, vocab_size: int, target: int, *, num_layers: int, embedding_dim: int) -> int:
    """The width at which a char-RNN with ``cell`` has the parameter count closest to ``target``."""
    from kerazoo.sequence.charrnn import char_language_model

    def params(units):
        return char_language_model(vocab_size, cell=cell, units=units, num_layers=num_layers,
                                   embedding_dim=embedding_dim).count_params()

    low, high = 1, 4096
    while low < high:  # parameters grow with the width: binary search for the first width reaching the target
        mid = (low + high) // 2
        if params(mid) < target:
            low = mid + 1
        else:
            high = mid
    return min((low - 1, low), key=lambda u: abs(params(max(u, 1)) - target)) or 1


def bench_char_rnn(settings, corpus, out):
    from kerazoo.runs import RunDir
    from kerazoo.sequence.charrnn import CharRNNConfig, Vocabulary, char_language_model, train_char_rnn
    from kerazoo.sequence.corpus import load_text

    every = max(settings["char_steps"] // 5, 1)  # five measurements; steps a multiple (an epoch of the service)
    base = CharRNNConfig(corpus=corpus, steps=5 * every, units=settings["char_units"], eval_every=every)
    vocab_size = len(Vocabulary.from_text(load_text(corpus)))
    target = char_language_model(vocab_size, cell="lstm", units=base.units, num_layers=base.num_layers,
                                 embedding_dim=base.embedding_dim).count_params()
    results = {}
    for cell in ("rnn", "lstm", "gru"):
        units = units_for_params(cell, vocab_size, target, num_layers=base.num_layers,
                                 embedding_dim=base.embedding_dim)
        start = time.time()
        run = train_char_rnn(os.path.join(out, f"char_{cell}"), base, cell=cell, units=units, overwrite=True,
                             verbose=0)
        summary = RunDir(run).read_summary()
        first = RunDir(run).read_metrics()[0]["val_bpc"]  # after the first eval_every steps (no step-0 measurement)
        results[cell] = {"units": units, "params": summary["params"], "first_val_bpc": first,
                         "best_val_bpc": summary["val_bpc"], "seconds": round(time.time() - start, 1)}
        print(f"char-RNN {cell:>4}: {units} units, {summary['params']} params, val bpc "
              f"{first:.3f} -> {summary['val_bpc']:.3f}", flush=True)
    return {"corpus": corpus, "steps": base.steps, "cells": results}


CAPTION_VARIANTS = {"lstm_attention": dict(decoder="lstm", attention=True),
                    "lstm_no_attention": dict(decoder="lstm", attention=False),
                    "transformer": dict(decoder="transformer")}


FIGURES = ("bleu1", "bleu2", "bleu3", "bleu4", "object_recall", "objects_named")
BEAM_WIDTH = 3  # each captioner is scored greedily (its summary.json) and again with this beam


def caption_run(name, settings, out, data_dir, reuse=(), **options) -> tuple[str, bool]:
    """Trains a captioner at the bench's settings into ``out/cap_NAME``, or takes a finished captioning run in
    ``reuse`` whose config is the same; returns (run directory, reused)."""
    from kerazoo.sequence.captioning import CaptionConfig, train_captioner

    config = CaptionConfig(**{"train_count": settings["caption_train"], "val_count": settings["caption_eval"],
                              "test_count": settings["caption_eval"], "epochs": settings["caption_epochs"],
                              "run_eagerly": settings["caption_eager"], "data_dir": data_dir, **options})
    from kerazoo.runs import RunDir
    from kerazoo.sequence.captioning import caption_train_config
    from kerazoo.training.config import config_to_dict

    wanted = config_to_dict(caption_train_config(config))
    for run in reuse:
        if RunDir(run).complete and RunDir(run).exists():
            saved = RunDir(run).read_config()
            saved.pop("resolved", None)
            if saved == wanted:
                return run, True
    return train_captioner(os.path.join(out, f"cap_{name}"), config, overwrite=True, verbose=0), False


def bench_captioning(settings, out, data_dir, variants=CAPTION_VARIANTS, backbone_from=None, reuse=()):
    from kerazoo.runs import RunDir
    from kerazoo.sequence.captioning import evaluate_caption_run

    results = {}
    for name, options in variants.items():
        start = time.time()
        run, reused = caption_run(name, settings, out, data_dir, reuse, backbone_from=backbone_from, **options)
        summary = RunDir(run).read_summary()
        seconds = None if reused else round(time.time() - start, 1)
        beam = evaluate_caption_run(run, beam_width=BEAM_WIDTH)
        results[name] = {**{k: summary[k] for k in ("params", *FIGURES, "examples", "samples")}, "run": run,
                         "reused": reused, "seconds": seconds, f"beam{BEAM_WIDTH}": {k: beam[k] for k in FIGURES}}
        print(f"captioning {name}: BLEU-4 {summary['bleu4']:.3f} (beam {BEAM_WIDTH}: {beam['bleu4']:.3f}), names "
              f"every object in {summary['object_recall']:.1%} (beam {BEAM_WIDTH}: {beam['object_recall']:.1%}) of "
              f"{summary['examples']} test scenes", flush=True)
    return {"train_scenes": settings["caption_train"], "epochs": settings["caption_epochs"], "variants": results}


def data_overrides(settings, data_dir) -> list:
    """Config overrides of the Fashion-MNIST classification runs: the quick run's cut and the data folder."""
    return ([f"data.limit={settings['image_limit']}"] if settings["image_limit"] else []) + \
        ([f"data.data_dir={data_dir}"] if data_dir else [])


def classification_run(name, overrides, out, reuse=()) -> dict:
    """Trains ``name`` with ``overrides`` into ``out/NAME``, or takes a finished run in ``reuse`` whose config is the
    same (a run already paid for); returns its test figures from summary.json."""
    from kerazoo.runs import RunDir
    from kerazoo.training import load_config, load_run_config, load_run_model, train
    from kerazoo.training.config import config_to_dict

    config = load_config(overrides=overrides)
    same = [run for run in reuse if RunDir(run).complete
            and not os.path.exists(RunDir(run).file("vocab.json"))  # not a sequence run written before the service
            and config_to_dict(load_run_config(run)) == config_to_dict(config)]
    run = same[0] if same else train(config, os.path.join(out, name), overwrite=True, verbose=0)
    summary = RunDir(run).read_summary()
    figures = {"run": run, "reused": bool(same), "params": int(load_run_model(run).count_params()),
               "test_accuracy": summary["accuracy"], "epochs": summary["epochs"], "overrides": list(overrides),
               "train_seconds": summary["train_seconds_this_attempt"]}
    print(f"{name}: {figures['params']} params, test accuracy {figures['test_accuracy']:.4f}", flush=True)
    return figures


def encoder_classifier(settings, out, data_dir, reuse=()) -> dict:
    """The ResNet-20 Fashion-MNIST classification run that starts the captioners' encoder."""
    overrides = ["model.name=resnet20", f"epochs={settings['classifier_epochs']}", *data_overrides(settings, data_dir)]
    return classification_run("classifier_resnet20", overrides, out, reuse)


def bench_caption_transfer(settings, out, data_dir, reuse=()):
    """The LSTM captioners again, their ResNet-20 encoder started from a Fashion-MNIST classification run, as
    Show-Attend-Tell starts from an ImageNet classifier."""
    classifier = encoder_classifier(settings, out, data_dir, reuse)
    variants = {f"{name}_pretrained": CAPTION_VARIANTS[name] for name in ("lstm_attention", "lstm_no_attention")}
    return {"classifier": classifier,
            **bench_captioning(settings, out, data_dir, variants, backbone_from=classifier["run"], reuse=reuse)}


ENCODER_VARIANTS = {"fine_tuned": dict(decoder="lstm", attention=True, lr_schedule="cosine"),
                    "frozen": dict(decoder="lstm", attention=True, lr_schedule="cosine", freeze_encoder=True)}


def bench_caption_encoder(settings, out, data_dir, reuse=()):
    """The attention captioner on a transferred encoder, fine-tuned with the decoder or kept fixed (the paper's
    recipe), both with the learning rate decayed by a cosine."""
    classifier = encoder_classifier(settings, out, data_dir, reuse)
    return {"classifier": classifier, **bench_captioning(settings, out, data_dir, ENCODER_VARIANTS,
                                                         backbone_from=classifier["run"], reuse=reuse)}


def bench_caption_scenes(settings, out, data_dir, reuse=(), only=()):
    """The fine-tuned captioner of ``caption_encoder`` against the same with new scenes in every epoch: the same
    steps and batches, drawn from epochs x as many scenes (does it overfit its scenes?). ``only``: variant names to
    run (default: both)."""
    from kerazoo.sequence.captioning import CaptionConfig

    classifier = encoder_classifier(settings, out, data_dir, reuse)
    batch_size = CaptionConfig.batch_size  # the default the variants train with
    variants = {"fine_tuned": ENCODER_VARIANTS["fine_tuned"],
                "new_scenes_every_epoch": dict(ENCODER_VARIANTS["fine_tuned"],
                                               train_count=settings["caption_epochs"] * settings["caption_train"],
                                               steps_per_epoch=settings["caption_train"] // batch_size)}
    unknown = set(only) - set(variants)
    if unknown:
        raise ValueError(f"Invalid --variants {sorted(unknown)}: expected some of {list(variants)}.")
    variants = {name: options for name, options in variants.items() if not only or name in only}
    return {"classifier": classifier, **bench_captioning(settings, out, data_dir, variants,
                                                         backbone_from=classifier["run"], reuse=reuse)}


def bench_vit(settings, out, data_dir, reuse=()):
    results = {}
    for name in ("vit_micro_p4", "resnet20"):
        overrides = [f"model.name={name}", f"epochs={settings['vit_epochs']}", *data_overrides(settings, data_dir)]
        if name.startswith("vit"):  # transformers want Adam-style optimizers (the paper: Adam, warmup)
            overrides += ["optimizer.name=adamw", "optimizer.lr=0.001"]
        results[name] = classification_run(name, overrides, out, reuse)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (~2 minutes)")
    parser.add_argument("--corpus", default="fortunes", help="char-RNN corpus name or text file")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the installed one)")
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts to run")
    parser.add_argument("--reuse", metavar="RUN,...", default="",
                        help="finished classification or captioning runs to use where a part would train one with the "
                             "same config")
    parser.add_argument("--out", default="runs/bench_sequence")
    parser.add_argument("--variants", metavar="NAME,...", default="",
                        help="caption_scenes: which of its captioners to run (fine_tuned, new_scenes_every_epoch)")
    parser.add_argument("--results", default=None,
                        help="results file name (default: sequence, or sequence_PART_... for some parts)")
    for key in ("char_steps", "caption_train", "caption_epochs", "classifier_epochs", "vit_epochs"):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None, help=f"override {key}")
    args = parser.parse_args()
    settings = dict(QUICK if args.quick else FULL)
    settings.update({key: value for key, value in vars(args).items() if key in settings and value is not None})
    parts, reuse = args.parts.split(","), [run for run in args.reuse.split(",") if run]
    figures = {"settings": settings}
    if "char" in parts:
        figures["char_rnn"] = bench_char_rnn(settings, args.corpus, args.out)
    if "caption" in parts:
        figures["captioning"] = bench_captioning(settings, args.out, args.data_dir, reuse=reuse)
    if "caption_transfer" in parts:
        figures["caption_transfer"] = bench_caption_transfer(settings, args.out, args.data_dir, reuse)
    if "caption_encoder" in parts:
        figures["caption_encoder"] = bench_caption_encoder(settings, args.out, args.data_dir, reuse)
    if "caption_scenes" in parts:
        only = [name for name in args.variants.split(",") if name]
        figures["caption_scenes"] = bench_caption_scenes(settings, args.out, args.data_dir, reuse, only)
    if "vit" in parts:
        figures["vit"] = bench_vit(settings, args.out, args.data_dir, reuse)
    name = "sequence" + ("" if parts == list(PARTS) else "_" + "_".join(parts))  # a part keeps its own file
    path = write_results(args.results or name + ("_quick" if args.quick else ""), figures)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

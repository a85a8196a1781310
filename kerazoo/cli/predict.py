"""`kerazoo predict`: run a trained model on images (files or folders): top-5 classes, masks/boxes drawn on each
image at its own size, or a caption (captioning runs); sample text from a char-RNN run; or a pretrained zoo model (a
registry name with --weights) on images: their top-5 ImageNet classes."""

from __future__ import annotations

import os

from kerazoo.cli import add_parser
from kerazoo.cli.evaluate import sequence_run_kind
from kerazoo.cli.sequence import add_sample_options, run_sample

# NumPy is imported inside the functions: `kerazoo --help` imports every verb module and should stay light.


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""Files a folder given to ``kerazoo predict`` contributes (its other files are left alone)."""


def register(subparsers):
    p = add_parser(
        subparsers, "predict", help="predict images with a run: top-5 classes, pictures of masks/boxes, captions; "
                                    "text from a char-RNN run; or images with a pretrained zoo model: top-5 "
                                    "ImageNet classes",
        example="kerazoo predict runs/ssd photos/ --out drawn/   |   kerazoo predict resnet50 --weights imagenet "
                "cat.jpg dog.jpg\n  kerazoo predict runs/char_lstm --prime \"The \" --length 200   |   "
                "kerazoo predict runs/cap scene.png",
    )
    p.add_argument("run", help="run directory (written by kerazoo train), or a registered model name with --weights")
    p.add_argument("image", nargs="*", help="image files or folders of them (PNG, JPEG, ...; any size; converted to "
                                            "the model's channels; classifiers: to its size, dense models: predicted "
                                            "and drawn at each image's own size); none for a char-RNN run")
    p.add_argument("--weights", help="with a model name: pretrained weights (imagenet, a tag, or a weights file)")
    p.add_argument("--out", help="dense tasks: the picture of the prediction (PNG); captioning: the attention maps "
                                 "(PNG); with several images a folder, one NAME.png per image")
    p.add_argument("--top", type=int, default=5, help="classifiers: how many classes to print")
    p.add_argument("--beam", type=int, default=3, help="captioning runs: beam width (1 = greedy)")
    add_sample_options(p, "char-RNN runs: ")
    # The kind-specific flags' defaults are marked, so that a flag the run's kind does not use is an error rather
    # than silently ignored; run() unwraps them.
    dests = {dest for dests in OPTIONS_BY_KIND.values() for dest in dests}
    p.set_defaults(func=run, trailing="image",  # images may follow the flags (see kerazoo.cli.parse)
                   **{dest: _Default(p.get_default(dest)) for dest in dests})


class _Default:
    """An option's default, not given on the command line (``--help`` shows the value)."""

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)


OPTIONS_BY_KIND = {
    "pretrained zoo model": ("weights", "top"),
    "classifier run": ("top",),
    "dense-prediction run": ("out",),
    "captioning run": ("beam", "out"),
    "char-RNN run": ("prime", "length", "temperature", "top_k", "seed"),
}
"""The options of ``kerazoo predict`` each kind of run (or a pretrained model) uses."""


def _kind(args) -> str | None:
    """Which of ``OPTIONS_BY_KIND`` ``args.run`` is, or None when predict does not handle it (predict says so)."""
    if args.weights:
        return "pretrained zoo model"
    if not os.path.isdir(args.run):
        return None  # no such run directory: run() says so
    kind = sequence_run_kind(args.run)
    if kind:
        return {"captioning": "captioning run", "char_rnn": "char-RNN run"}[kind]
    from kerazoo.training.run import load_run_config
    from kerazoo.training.tasks import task_for_config

    task = task_for_config(load_run_config(args.run))
    if task.predicts_classes:
        return "classifier run"
    return "dense-prediction run" if hasattr(task, "predict_image") else None


def _check_options(args) -> None:
    """Puts in the defaults of the options not given; fails with one line when a given one does not apply to the
    kind of ``args.run``."""
    defaults = {dest: value.value for dest, value in vars(args).items() if isinstance(value, _Default)}
    vars(args).update(defaults)
    given = [dest for dests in OPTIONS_BY_KIND.values() for dest in dests if dest not in defaults]
    kind = _kind(args) if given else None
    unused = [dest for dest in dict.fromkeys(given) if kind and dest not in OPTIONS_BY_KIND[kind]]
    if unused:
        flags = ", ".join("--" + dest.replace("_", "-") for dest in unused)
        users = [f"{name}s" for name, dests in OPTIONS_BY_KIND.items() if unused[0] in dests]
        raise ValueError(f"{flags} {'does' if len(unused) == 1 else 'do'} not apply to {args.run}, a {kind} "
                         f"(--{unused[0].replace('_', '-')} is for {' and '.join(users)})")


def image_paths(paths) -> list:
    """The image files of ``paths``: files as given, folders as their image files (``IMAGE_SUFFIXES``, sorted)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
            if not files:
                raise ValueError(f"Invalid image folder {path!r}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it.")
            found += files
        elif not os.path.exists(path):
            raise FileNotFoundError(f"No image at {path}.")
        else:
            found.append(path)
    return found


def read_image(path: str, shape) -> np.ndarray:
    """An image file as float32 raw pixels (0-255) with the model's channels, resized to its (height, width) when
    fixed (kerazoo.io.read_image)."""
    from kerazoo.io import read_image as read_image_file

    return read_image_file(path, tuple(shape))



def _picture_paths(images: list, out: str | None) -> list:
    """Where each image's picture goes: ``out`` itself for one image (unless it is a folder), else
    ``out/STEM.png`` (two images of one stem: a parent folder's name is added)."""
    if len(images) == 1 and not (out.endswith(os.sep) or os.path.isdir(out)):
        return [out]
    stems = [os.path.splitext(os.path.basename(path))[0] for path in images]
    repeated = {stem for stem in stems if stems.count(stem) > 1}
    names = [f"{os.path.basename(os.path.dirname(os.path.abspath(path)))}_{stem}" if stem in repeated else stem
             for path, stem in zip(images, stems)]
    return [os.path.join(out, f"{name}.png") for name in names]


def predict(run_dir: str, image_path, *, out: str | None = None, top: int = 5, beam_width: int = 3):
    """Predictions of a run's best checkpoint for an image (a dict) or a list of image paths and folders (a list of
    dicts, one per image); dense tasks also draw each on the image at its own size into ``out`` (a PNG for one
    image, else a folder). A captioning run captions each image (``beam_width``), drawing the attention maps into
    ``out`` when given."""
    import keras
    import numpy as np

    from kerazoo.training.run import load_run_config, load_run_info
    from kerazoo.runs import RunDir
    from kerazoo.training.tasks import task_for_config

    single = isinstance(image_path, str) and not os.path.isdir(image_path)
    images = image_paths([image_path] if isinstance(image_path, str) else image_path)
    kind = sequence_run_kind(run_dir)
    if kind == "captioning":
        from kerazoo.sequence.captioning import caption_images

        pictures = _picture_paths(images, out) if out else [None] * len(images)
        captions = caption_images(run_dir, images, beam_width=beam_width, outs=pictures)
        results = [{"image": path, "task": "captioning", "caption": caption, "out": picture}
                   for path, picture, (caption, _, _) in zip(images, pictures, captions)]
        return results[0] if single else results
    if kind == "char_rnn":
        raise ValueError(f"{run_dir} is a char-RNN run: it samples text and takes no images (kerazoo predict RUN "
                         "--prime TEXT --length N, or kerazoo.sequence.sample).")
    config = load_run_config(run_dir)
    task = task_for_config(config)
    classifier = task.predicts_classes  # classification, and the recurrent attention model
    if not classifier and not hasattr(task, "predict_image"):
        raise ValueError(f"{run_dir} is a {task.name} run, which predict does not handle: it takes classification, "
                         "attention, detection, segmentation, localization, captioning and char-RNN runs.")
    info = load_run_info(run_dir)
    if not classifier and not out:
        raise ValueError(f"Missing --out: a {task.name} run draws its predictions into PNG files.")
    model = RunDir(run_dir).load_model()
    pictures = _picture_paths(images, out) if out and not classifier else [None] * len(images)
    results = []
    for path, picture_path in zip(images, pictures):
        # dense tasks take the image at its own size and draw on it (predict_image maps the predictions back)
        image = read_image(path, info.image_shape if classifier else (None, None, info.image_shape[-1]))
        if classifier:
            logits = model(image[None], training=False)
            probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0]
            order = np.argsort(-probs)[:top]
            results.append({"image": path, "top": [(info.class_names[i], float(probs[i])) for i in order]})
            continue
        prediction = task.predict_image(model, image, resize=config.data.resize)
        _save_png(picture_path, task.draw(image, prediction, info))
        results.append({"image": path, "task": task.name, "out": picture_path,
                        **{k: np.asarray(v).tolist() for k, v in prediction.items()
                           if k != "probabilities" and np.asarray(v).size <= 64}})
    return results[0] if single else results


def _save_png(path: str, picture: np.ndarray) -> None:
    """Writes the picture under a temporary name in the same folder, then renames it (never a partial file)."""
    import matplotlib.pyplot as plt
    import numpy as np

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    plt.imsave(tmp, np.clip(picture, 0, 255).astype(np.uint8), format="png")
    os.replace(tmp, path)


def predict_pretrained(model_name: str, image_paths: list[str], *, weights: str, top: int = 5) -> list[dict]:
    """Top ImageNet classes of a pretrained zoo model for each image, read with the weights' resize/crop recipe."""
    import numpy as np

    from kerazoo.applications import create_model, pretrained
    from kerazoo.applications.pretrained.images import load_image

    model = create_model(model_name, weights=weights)
    info = getattr(model, "pretrained", None)
    if info is None or not info.class_names:
        raise ValueError(f"Weights {weights!r} give {model_name!r} no ImageNet classifier to name classes with.")
    size = tuple(model.input_shape[1:3])
    batch = np.stack([load_image(path, info.preprocessing, size) for path in image_paths])
    probs = np.asarray(model.predict(batch, verbose=0))
    return [{"image": path, "top": [(name, score) for _, name, score in decoded]}
            for path, decoded in zip(image_paths, pretrained.decode_predictions(probs, top=top))]


def run(args):
    _check_options(args)
    pretrained = args.weights or not os.path.isdir(args.run)
    if not pretrained and not args.image and sequence_run_kind(args.run) == "char_rnn":
        run_sample(args)
        return 0
    if not args.image:
        raise ValueError(f"Missing IMAGE: kerazoo predict {args.run} needs image files or folders (a char-RNN run "
                         "takes none).")
    if pretrained:
        if not args.weights:
            raise ValueError(f"No run directory {args.run}; for a pretrained zoo model pass --weights (e.g. imagenet).")
        for result in predict_pretrained(args.run, args.image, weights=args.weights, top=args.top):
            print(result["image"])
            for name, prob in result["top"]:
                print(f"  {prob:7.2%}  {name}")
        return 0
    results = predict(args.run, args.image, out=args.out, top=args.top, beam_width=args.beam)
    for result in results:
        if result.get("task") == "captioning":
            print(f"{result['image']}: {result['caption']}" if len(results) > 1 else result["caption"])
            if result["out"]:
                print(f"attention maps written to {result['out']}")
        elif "top" in result:
            if len(results) > 1:
                print(result["image"])
            for name, prob in result["top"]:
                print(f"{'  ' if len(results) > 1 else ''}{prob:7.2%}  {name}")
        else:
            print(f"{result['task']} prediction of {result['image']} drawn to {result['out']}")
    return 0

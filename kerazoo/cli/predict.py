"""`kerazoo predict`: run a trained model on images (files or folders): top-5 classes, or masks/boxes drawn on each
image at its own size; or a pretrained zoo model (a registry name with --weights) on images: their top-5 ImageNet
classes."""

from __future__ import annotations

import os

from kerazoo.cli import add_parser

# NumPy is imported inside the functions: `kerazoo --help` imports every verb module and should stay light.


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""Files a folder given to ``kerazoo predict`` contributes (its other files are left alone)."""


def register(subparsers):
    p = add_parser(
        subparsers, "predict", help="predict images with a run: top-5 classes, or pictures of masks/boxes; "
                                    "or images with a pretrained zoo model: top-5 ImageNet classes",
        example="kerazoo predict runs/ssd photos/ --out drawn/   |   kerazoo predict resnet50 --weights imagenet "
                "cat.jpg dog.jpg",
    )
    p.add_argument("run", help="run directory (written by kerazoo train), or a registered model name with --weights")
    p.add_argument("image", nargs="+", help="image files or folders of them (PNG, JPEG, ...; any size; converted to "
                                            "the model's channels; classifiers: to its size, dense models: predicted "
                                            "and drawn at each image's own size)")
    p.add_argument("--weights", help="with a model name: pretrained weights (imagenet, a tag, or a weights file)")
    p.add_argument("--out", help="dense tasks: the picture of the prediction (PNG); with several images a folder, "
                                 "one NAME.png per image")
    p.add_argument("--top", type=int, default=5, help="classifiers: how many classes to print")
    p.set_defaults(func=run)


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


def predict(run_dir: str, image_path, *, out: str | None = None, top: int = 5):
    """Predictions of a run's best checkpoint for an image (a dict) or a list of image paths and folders (a list of
    dicts, one per image); dense tasks also draw each on the image at its own size into ``out`` (a PNG for one
    image, else a folder)."""
    import keras
    import numpy as np

    from kerazoo.training.run import load_run_config, load_run_info
    from kerazoo.runs import RunDir
    from kerazoo.training.tasks import task_for_model

    single = isinstance(image_path, str) and not os.path.isdir(image_path)
    images = image_paths([image_path] if isinstance(image_path, str) else image_path)
    config, info = load_run_config(run_dir), load_run_info(run_dir)
    task = task_for_model(config.model.name)
    if task.name != "classification" and not out:
        raise ValueError(f"Missing --out: a {task.name} run draws its predictions into PNG files.")
    model = RunDir(run_dir).load_model()
    pictures = _picture_paths(images, out) if out and task.name != "classification" else [None] * len(images)
    results = []
    for path, picture_path in zip(images, pictures):
        # dense tasks take the image at its own size and draw on it (predict_image maps the predictions back)
        image = read_image(path, info.image_shape if task.name == "classification" else
                           (None, None, info.image_shape[-1]))
        if task.name == "classification":
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
    if args.weights or not os.path.isdir(args.run):
        if not args.weights:
            raise ValueError(f"No run directory {args.run}; for a pretrained zoo model pass --weights (e.g. imagenet).")
        for result in predict_pretrained(args.run, args.image, weights=args.weights, top=args.top):
            print(result["image"])
            for name, prob in result["top"]:
                print(f"  {prob:7.2%}  {name}")
        return 0
    results = predict(args.run, args.image, out=args.out, top=args.top)
    for result in results:
        if "top" in result:
            if len(results) > 1:
                print(result["image"])
            for name, prob in result["top"]:
                print(f"{'  ' if len(results) > 1 else ''}{prob:7.2%}  {name}")
        else:
            print(f"{result['task']} prediction of {result['image']} drawn to {result['out']}")
    return 0

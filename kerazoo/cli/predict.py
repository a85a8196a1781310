"""`kerazoo predict`: run a trained model on one image: top-5 classes, or masks/boxes drawn on the image; or a
pretrained zoo model (a registry name with --weights) on images: their top-5 ImageNet classes."""

from __future__ import annotations

import os

from kerazoo.cli import add_parser

# NumPy is imported inside the functions: `kerazoo --help` imports every verb module and should stay light.


def register(subparsers):
    p = add_parser(
        subparsers, "predict", help="predict one PNG image with a run: top-5 classes, or a picture of masks/boxes; "
                                    "or images with a pretrained zoo model: top-5 ImageNet classes",
        example="kerazoo predict runs/unet scene.png --out pred.png   |   kerazoo predict resnet50 --weights imagenet "
                "cat.jpg dog.jpg",
    )
    p.add_argument("run", help="run directory (written by kerazoo train), or a registered model name with --weights")
    p.add_argument("image", nargs="+", help="image file(s): one PNG for a run (any size; converted to the model's "
                                            "channels; classifiers: to its size, dense models: predicted and drawn at "
                                            "the image's own size); any PIL-readable images for a pretrained model")
    p.add_argument("--weights", help="with a model name: pretrained weights (imagenet, a tag, or a weights file)")
    p.add_argument("--out", help="dense tasks: where to write the picture of the prediction (PNG)")
    p.add_argument("--top", type=int, default=5, help="classifiers: how many classes to print")
    p.set_defaults(func=run)


def read_image(path: str, shape) -> np.ndarray:
    """A PNG as float32 raw pixels (0-255) with the model's channels, resized to its (height, width) when fixed."""
    import matplotlib.image
    import numpy as np
    import tensorflow as tf

    if not os.path.exists(path):
        raise FileNotFoundError(f"No image at {path}.")
    if not path.lower().endswith(".png"):
        raise ValueError(f"Invalid image: expected a .png file. Received: {path!r}")
    image = np.asarray(matplotlib.image.imread(path), np.float32)
    image = image * 255.0 if image.max() <= 1.0 else image
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    channels = shape[-1]
    if channels == 1 and image.shape[-1] == 3:
        image = image @ np.array([[0.299], [0.587], [0.114]], np.float32)
    elif channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if shape[0] is not None and tuple(image.shape[:2]) != tuple(shape[:2]):
        image = tf.image.resize(image, shape[:2]).numpy()
    return image


def predict(run_dir: str, image_path: str, *, out: str | None = None, top: int = 5) -> dict:
    """Predictions of a run's best checkpoint for one image; dense tasks also draw them into ``out``."""
    import keras
    import numpy as np

    from kerazoo.training.run import load_run_config, load_run_info
    from kerazoo.runs import RunDir
    from kerazoo.training.tasks import task_for_model

    config, info = load_run_config(run_dir), load_run_info(run_dir)
    task = task_for_model(config.model.name)
    model = RunDir(run_dir).load_model()
    # dense tasks take the image at its own size and draw on it (predict_image maps the predictions back)
    image = read_image(image_path, info.image_shape if task.name == "classification" else
                       (None, None, info.image_shape[-1]))
    if task.name == "classification":
        logits = model(image[None], training=False)
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0]
        order = np.argsort(-probs)[:top]
        return {"top": [(info.class_names[i], float(probs[i])) for i in order]}
    if not out:
        raise ValueError(f"Missing --out: a {task.name} run draws its prediction into a PNG file.")
    prediction = task.predict_image(model, image, resize=config.data.resize)
    picture = task.draw(image, prediction, info)
    _save_png(out, picture)
    return {"task": task.name, "out": out, **{k: np.asarray(v).tolist() for k, v in prediction.items()
                                               if k != "probabilities" and np.asarray(v).size <= 64}}


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
    if len(args.image) != 1:
        raise ValueError(f"A run predicts one image at a time. Received: {len(args.image)} images.")
    result = predict(args.run, args.image[0], out=args.out, top=args.top)
    if "top" in result:
        for name, prob in result["top"]:
            print(f"{prob:7.2%}  {name}")
    else:
        print(f"{result['task']} prediction drawn to {result['out']}")
    return 0

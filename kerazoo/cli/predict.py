"""`kerazoo predict`: run a trained model on one image: top-5 classes, or masks/boxes drawn on the image."""

from __future__ import annotations

import os

from kerazoo.cli import add_parser

# NumPy is imported inside the functions: `kerazoo --help` imports every verb module and should stay light.


def register(subparsers):
    p = add_parser(
        subparsers, "predict", help="predict one PNG image with a run: top-5 classes, or a picture of masks/boxes",
        example="kerazoo predict runs/unet scene.png --out pred.png",
    )
    p.add_argument("run", help="run directory (written by kerazoo train)")
    p.add_argument("image", help="PNG image (any size; converted to the model's channels; classifiers: to its size, "
                                  "dense models: predicted and drawn at the image's own size)")
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

    from kerazoo.training.run import load_run_config, load_run_info, load_run_model
    from kerazoo.training.tasks import task_for_model

    config, info = load_run_config(run_dir), load_run_info(run_dir)
    task = task_for_model(config.model.name)
    model = load_run_model(run_dir)
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


def run(args):
    result = predict(args.run, args.image, out=args.out, top=args.top)
    if "top" in result:
        for name, prob in result["top"]:
            print(f"{prob:7.2%}  {name}")
    else:
        print(f"{result['task']} prediction drawn to {result['out']}")
    return 0

"""Classify an image file with an exported kerazoo .tflite model, as a mobile app would: the LiteRT interpreter only.

    python examples/classify_tflite.py models/fashion_lenet5/1/model.tflite shoe.png
    python examples/classify_tflite.py models/fashion_lenet5/1/model_int8.tflite shoe.png --top 3

Preprocessing is the training pipeline's: decode, convert to the model's channels (grey or RGB), resize to its input
size, keep raw 0-255 pixels; the model normalizes inside. Class names come from kerazoo.json beside the model.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image


def load_pixels(path: str, height: int, width: int, channels: int) -> np.ndarray:
    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read image {path}: {error}")
    image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    return pixels.reshape(1, height, width, channels)


def classify(model_path: str, image_path: str, top: int = 3) -> list[tuple[str, float]]:
    interpreter = Interpreter(model_path=model_path)
    runner = interpreter.get_signature_runner("serving_default")
    detail = runner.get_input_details()["images"]
    _, height, width, channels = detail["shape_signature"]
    pixels = load_pixels(image_path, int(height), int(width), int(channels))
    if detail["dtype"] == np.uint8:  # the full-integer model takes raw pixels as uint8
        scale, zero = detail["quantization"]
        pixels = np.clip(np.round(pixels / scale + zero), 0, 255).astype(np.uint8)
    probabilities = runner(images=pixels)["probabilities"][0]
    meta_path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "kerazoo.json")
    names = [str(i) for i in range(len(probabilities))]
    if os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            names = json.load(f).get("class_names", names)
    order = np.argsort(probabilities)[::-1][:top]
    return [(names[i], float(probabilities[i])) for i in order]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model.tflite or model_int8.tflite")
    parser.add_argument("image", help="an image file (PNG, JPEG, ...)")
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()
    for name, probability in classify(args.model, args.image, args.top):
        print(f"{probability:7.2%}  {name}")


if __name__ == "__main__":
    main()

"""Pretrained weights: time and peak memory to convert a source file and to load the converted cache, beside
keras.applications' own load of the same file, for ResNet-50 (and ViT-B/16 when a converter for it is registered).

    python bench/pretrained_load.py            # writes bench/results/pretrained_load.json

The weights file is made here (keras.applications' ResNet50 with random weights, saved in the layer-keyed HDF5
layout keras publishes), so nothing is downloaded; the tag is pointed at that file's md5 instead of keras' published
one. Each measurement runs in a fresh process: ``seconds`` is build + load (or convert) wall time, ``extra_mb`` the
peak resident memory above what the process held just before (after imports; the model's own weights included), ``build_seconds`` the model build
alone. Goals (issue 36): loading from the cache <= 1.5x keras.applications' time; conversion <= 30 s and <= 2x the
weights' size in extra memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHILD = r"""
import dataclasses, hashlib, json, os, resource, sys, time
import keras
from kerazoo.applications import create_model, pretrained

step, model_name, tag_name, path = sys.argv[1:5]
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def current_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
pretrained.load_sources()
tag = pretrained.get_tag(model_name, tag_name)
md5 = hashlib.md5(open(path, "rb").read()).hexdigest() if tag.file_hash else None
pretrained.tags._TAGS[model_name][tag.tag] = dataclasses.replace(tag, file_hash=md5)  # the bench's own file
start_rss = current_mb()
start = time.perf_counter()
if step == "build":
    create_model(model_name)
elif step == "keras":
    getattr(keras.applications, sys.argv[5])(weights=path)
else:  # "convert" (no converted cache yet) or "cached"
    create_model(model_name, weights=tag_name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 2), "extra_mb": round(peak_mb() - start_rss, 1)}))
"""


def measure(step: str, model: str, tag: str, path: str, keras_builder: str, cache: str) -> dict:
    env = {**os.environ, "KERAZOO_WEIGHTS_DIR": cache, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", CHILD, step, model, tag, path, keras_builder], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_source_file(keras_builder: str, folder: str, filename: str) -> str:
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    model = getattr(keras.applications, keras_builder)(weights=None)
    path = os.path.join(folder, filename)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def bench_model(model: str, tag_name: str, keras_builder: str) -> dict:
    from kerazoo.applications import pretrained

    tag = pretrained.get_tag(model, tag_name)
    with tempfile.TemporaryDirectory() as cache:
        path = make_source_file(keras_builder, cache, tag.filename)
        size_mb = os.path.getsize(path) / 2**20
        figures = {"model": model, "tag": tag.tag, "weights_mb": round(size_mb, 1)}
        for step in ("build", "keras", "convert", "cached"):
            figures[step] = measure(step, model, tag_name, path, keras_builder, cache)
            print(model, step, figures[step], flush=True)
    figures["cached_over_keras"] = round(figures["cached"]["seconds"] / figures["keras"]["seconds"], 2)
    # Conversion's own memory: above what building the model alone takes.
    extra = figures["convert"]["extra_mb"] - figures["build"]["extra_mb"]
    figures["convert_extra_mb_over_size"] = round(extra / size_mb, 2)
    figures["convert_seconds_over_build"] = round(figures["convert"]["seconds"] - figures["build"]["seconds"], 2)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    from common import write_results
    from kerazoo.applications import pretrained

    results = {"resnet50": bench_model("resnet50", "keras_in1k", "ResNet50")}
    vit = [m for m in pretrained.models_with_weights() if m.startswith("vit_b16") or m == "vit_base_patch16_224"]
    results["vit_b16"] = ({"skipped": "no ViT-B/16 converter is registered in this tree"} if not vit else
                          {"skipped": f"ViT-B/16 ({vit[0]}) has no keras.applications file to compare with; its "
                                      "torch/timm converters are benched by their own tests"})
    print(write_results("pretrained_load", results))


if __name__ == "__main__":
    main()

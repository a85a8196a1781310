"""Pretrained weights: time and peak memory to convert a source file and to load the converted cache, for ResNet-50
(keras.applications' tag, beside keras.applications' own load of the same file) and ViT-B/16 (timm's tag;
keras.applications has no ViT, so no baseline).

    python bench/pretrained_load.py            # writes bench/results/pretrained_load.json

The weights files are made here with random weights by the source's own library (keras.applications' ResNet50
saved in the layer-keyed HDF5 layout keras publishes; ViT-B/16 by timm, saved as the hub's ``model.safetensors``),
so nothing is downloaded, and the tag's published hash is not checked (the file is the bench's own). Each
measurement runs in a fresh process: ``seconds`` is the wall time to build and load (``keras``: keras.applications
with ``weights=PATH``; ``cached``: kerazoo from its converted cache) or to build, convert and write the cache
(``convert``); ``build`` is the kerazoo build alone. ``extra_mb`` is the peak resident memory above what the process
held just before (after imports), the model's own weights included, so conversion's own memory is ``convert`` minus
``build``. Goals (issue 36): loading from the cache <= 1.5x keras.applications' time; conversion <= 30 s and <= 2x the
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
import dataclasses, json, os, resource, sys, time
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
pretrained.tags._TAGS[model_name][tag.tag] = dataclasses.replace(tag, file_hash=None)  # the bench's own file
start_rss = current_mb()
start = time.perf_counter()
if step == "build":
    create_model(model_name, **tag.builder_kwargs)
elif step == "keras":
    getattr(keras.applications, sys.argv[5])(weights=path)
else:  # "convert" (no converted cache yet) or "cached"
    create_model(model_name, weights=tag_name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 2), "extra_mb": round(peak_mb() - start_rss, 1)}))
"""


def measure(step: str, model: str, tag: str, path: str, keras_builder: str | None, cache: str) -> dict:
    env = {**os.environ, "KERAZOO_WEIGHTS_DIR": cache, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", CHILD, step, model, tag, path, keras_builder or ""], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_source_file(tag, keras_builder: str | None) -> str:
    """The tag's source file with random weights, made by the source's own library, where the cache expects it."""
    from kerazoo.applications.pretrained import files

    path = files.local_source_path(tag)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if tag.source == "keras":
        import h5py
        import keras
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, getattr(keras.applications, keras_builder)(weights=None))
    elif tag.source == "timm":
        from safetensors.numpy import save_file

        from kerazoo.applications.pretrained.reference import import_timm

        timm = import_timm()
        arch = tag.url.split("/", 1)[-1].split(".")[0]  # "timm/vit_base_patch16_224.augreg_in1k" → the timm model
        state = timm.create_model(arch, pretrained=False).state_dict()
        save_file({k: v.detach().contiguous().numpy() for k, v in state.items()}, path)
    else:  # torchvision: "vit_b_16-c867db91.pth" → torchvision.models.vit_b_16
        import torch

        from kerazoo.applications.pretrained.reference import import_torchvision

        torch.save(import_torchvision().models.get_model(tag.filename.split("-")[0]).state_dict(), path)
    return path


def bench_model(model: str, tag_name: str, keras_builder: str | None) -> dict:
    from kerazoo.applications import pretrained

    tag = pretrained.get_tag(model, tag_name)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["KERAZOO_WEIGHTS_DIR"] = cache
        path = make_source_file(tag, keras_builder)
        size_mb = os.path.getsize(path) / 2**20
        figures = {"model": model, "tag": tag.tag, "source": tag.source, "weights_mb": round(size_mb, 1)}
        steps = ("build", "keras", "convert", "cached") if keras_builder else ("build", "convert", "cached")
        for step in steps:
            figures[step] = measure(step, model, tag_name, path, keras_builder, cache)
            print(model, step, figures[step], flush=True)
    if keras_builder:
        figures["cached_over_keras"] = round(figures["cached"]["seconds"] / figures["keras"]["seconds"], 2)
    # Conversion's own memory: above what building the model alone takes.
    extra = figures["convert"]["extra_mb"] - figures["build"]["extra_mb"]
    figures["convert_extra_mb_over_size"] = round(extra / size_mb, 2)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    from common import write_results

    results = {
        "resnet50": bench_model("resnet50", "keras_in1k", "ResNet50"),
        # timm's default ViT-B/16 tag (weights="imagenet"); keras.applications has no ViT, so no keras baseline.
        "vit_b16": bench_model("vit_base_p16", "imagenet", None),
    }
    print(write_results("pretrained_load", results))


if __name__ == "__main__":
    main()

"""Weight files: what a file is (by content), reading a source file's tensors, the cache folder and fetching.

The cache folder is ``$KERAZOO_WEIGHTS_DIR`` (default ``~/.cache/kerazoo/weights``). A source file placed there under
its published file name is used as is, so an offline machine works; otherwise it is fetched, only when asked, by the
source's own client: ``keras.utils.get_file`` (with the hash keras publishes), ``torch.hub.load_state_dict_from_url``
(``check_hash=True``: the hash prefix in the file name) or ``huggingface_hub.hf_hub_download``. Converted weights go to
``converted/<model>/<tag>.weights.h5`` beside a ``.sha256`` and a ``.json`` card (source, tag, license, source hash).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct

import numpy as np

from kerazoo.applications.pretrained.tags import WeightTag
from kerazoo.io import atomic_file, atomic_write_text

__all__ = [
    "FILE_KINDS",
    "weights_dir",
    "sniff",
    "read_tensors",
    "source_file",
    "converted_path",
    "read_card",
    "write_converted",
]

DEFAULT_WEIGHTS_DIR = os.path.join("~", ".cache", "kerazoo", "weights")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"

# What sniff() returns: a legacy layer-keyed Keras HDF5 file (keras.applications' published .h5), a Keras 3
# .weights.h5 (kerazoo's own and converted files), a Keras 3 .keras archive (a zip holding model.weights.h5, which
# Keras' own load_weights reads), a PyTorch state dict (zip or legacy pickle), a safetensors file.
FILE_KINDS = ("keras_h5", "keras_weights", "keras_archive", "torch", "safetensors")


def weights_dir() -> str:
    return os.path.expanduser(os.environ.get("KERAZOO_WEIGHTS_DIR") or DEFAULT_WEIGHTS_DIR)


def sniff(path) -> str:
    """The kind of weights file ``path`` is, from its first bytes (not its name); one of ``FILE_KINDS``."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(HDF5_MAGIC):
        import h5py

        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:
                return "keras_h5"
            if "layers" in f or "vars" in f:
                return "keras_weights"
        raise ValueError(f"Weights file {path} is HDF5 but neither a Keras .h5 nor a Keras .weights.h5 file.")
    if head.startswith(ZIP_MAGIC):
        import zipfile

        with zipfile.ZipFile(path) as archive:
            return "keras_archive" if "model.weights.h5" in archive.namelist() else "torch"
    if head[:1] == b"\x80":
        return "torch"
    if len(head) >= 9:
        (header_size,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and header_size < os.path.getsize(path):
            return "safetensors"
    raise ValueError(
        f"Cannot tell what weights file {path} is: expected a Keras .h5/.weights.h5 (HDF5), a PyTorch state dict "
        f"(zip or pickle) or a .safetensors file. Its first bytes: {head[:8]!r}"
    )


def _read_keras_h5(path) -> dict[str, np.ndarray]:
    """A legacy Keras HDF5 file's weights as ``{"layer/weight": array}`` in the file's layer order."""
    import h5py

    tensors = {}
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            layer_group = group[layer]
            for weight in layer_group.attrs["weight_names"]:
                weight = weight.decode() if isinstance(weight, bytes) else weight
                short = weight.split("/")[-1].split(":")[0]
                tensors[f"{layer}/{short}"] = np.asarray(layer_group[weight])
    return tensors


def _read_torch(path) -> dict[str, np.ndarray]:
    import torch  # only to read a .pth: an optional dependency of conversion

    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}


def _read_safetensors(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(path))


def read_tensors(path, kind: str | None = None) -> dict[str, np.ndarray]:
    """A source file's tensors as NumPy arrays, keyed as its source keys them (see ``tags``)."""
    kind = kind or sniff(path)
    readers = {"keras_h5": _read_keras_h5, "torch": _read_torch, "safetensors": _read_safetensors}
    if kind not in readers:
        raise ValueError(f"Weights file {path} is a {kind} file, not a source file to convert.")
    return readers[kind](path)


def _hash_matches(path, expected: str) -> tuple[bool, str]:
    """Whether ``path`` has the published hash ``expected`` (md5 or sha256 by length, or a sha256 prefix as in
    torchvision's file names); returns the file's hash of that kind too."""
    algorithm = hashlib.md5 if len(expected) == 32 else hashlib.sha256
    digest = algorithm()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    return actual.startswith(expected.lower()), actual


def check_source_hash(path, tag: WeightTag) -> None:
    if not tag.file_hash:
        return
    ok, actual = _hash_matches(path, tag.file_hash)
    if not ok:
        raise ValueError(
            f"Weights file {path} does not match the hash {tag.source} publishes for {tag.model} {tag.tag}: "
            f"expected {tag.file_hash}, file has {actual}. Delete it and fetch it again."
        )


def _offline_error(tag: WeightTag, error: Exception) -> FileNotFoundError:
    # FileNotFoundError: the file is neither in the cache folder nor fetchable (the CLI answers it in one line)
    return FileNotFoundError(
        f"Cannot fetch {tag.source} weights {tag.tag!r} of {tag.model} ({type(error).__name__}: {error}). "
        f"For offline use, put the file {tag.filename} (from {tag.url}) at {local_source_path(tag)} "
        "(the folder is $KERAZOO_WEIGHTS_DIR)."
    )


def _fetch(tag: WeightTag, folder: str) -> str:
    """Fetch the source file with the source's own client into ``folder``; returns its path."""
    if tag.source == "keras":
        import keras

        return keras.utils.get_file(
            tag.filename, tag.url, cache_dir=folder, cache_subdir=".", file_hash=tag.file_hash
        )
    if tag.source == "torchvision":
        import torch.hub

        torch.hub.load_state_dict_from_url(tag.url, model_dir=folder, file_name=tag.filename, check_hash=True,
                                           map_location="cpu", progress=False)
        return os.path.join(folder, tag.filename)
    if tag.source == "timm":
        from huggingface_hub import hf_hub_download

        return hf_hub_download(tag.url, tag.filename, cache_dir=os.path.join(folder, "hf"))
    raise ValueError(f"Unknown weight source {tag.source!r} of tag {tag.tag!r}.")


def local_source_path(tag: WeightTag) -> str:
    """Where a source file placed by hand is looked for: ``CACHE/FILENAME``; for timm, whose files are all named
    ``model.safetensors``, ``CACHE/timm/<hub id with "/" as "--">/FILENAME``."""
    if tag.source == "timm":
        return os.path.join(weights_dir(), "timm", tag.url.replace("/", "--"), tag.filename)
    return os.path.join(weights_dir(), tag.filename)


def source_file(tag: WeightTag) -> str:
    """The tag's source file: the one placed in the cache folder (``local_source_path``), else fetched (and
    checked)."""
    folder = weights_dir()
    local = local_source_path(tag)
    if os.path.exists(local):
        check_source_hash(local, tag)
        return local
    os.makedirs(folder, exist_ok=True)
    logging.getLogger("kerazoo.applications.pretrained").info(
        "fetching %s weights %r of %s from %s into %s", tag.source, tag.tag, tag.model, tag.url, folder)
    try:
        path = _fetch(tag, folder)
    except ValueError:
        raise
    except Exception as error:  # no network, proxy, missing client ...: say where to put the file
        raise _offline_error(tag, error) from error
    check_source_hash(path, tag)
    return path


def converted_path(tag: WeightTag) -> str:
    safe_tag = tag.tag.replace("/", "--")
    return os.path.join(weights_dir(), "converted", tag.model, f"{safe_tag}.weights.h5")


def read_card(weights_path) -> dict | None:
    """The JSON card beside a converted weights file (``NAME.json`` for ``NAME.weights.h5``), or None."""
    card = os.fspath(weights_path).removesuffix(".weights.h5") + ".json"
    if not os.path.exists(card):
        return None
    with open(card, encoding="utf-8") as f:
        return json.load(f)


def write_converted(model, tag: WeightTag, source_path: str, *, preprocessing: dict) -> str:
    """Save ``model``'s converted weights for ``tag`` with their ``.sha256`` and card; each file atomically."""
    from kerazoo.applications.common import sha256_of

    path = converted_path(tag)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_file(path) as tmp:  # the temporary name keeps the ".weights.h5" ending that Keras insists on
        model.save_weights(tmp)
    digest = sha256_of(path)
    atomic_write_text(f"{path}.sha256", f"{digest}  {os.path.basename(path)}\n")
    card = {
        "model": tag.model,
        "tag": tag.tag,
        "source": tag.source,
        "license": tag.license,
        "source_file": tag.filename,
        "source_url": tag.url,
        "source_hash": tag.file_hash,
        "source_sha256": _hash_matches(source_path, "0" * 64)[1],
        "include_top": tag.include_top,
        "classes": tag.classes,
        "input_shape": list(tag.input_shape),
        "builder_kwargs": dict(tag.builder_kwargs),
        "preprocessing": {k: list(v) if isinstance(v, tuple) else v for k, v in preprocessing.items()},
        "sha256": digest,
    }
    atomic_write_text(path.removesuffix(".weights.h5") + ".json", json.dumps(card, indent=2) + "\n")
    return path

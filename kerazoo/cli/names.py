"""The names the CLI checks before TensorFlow loads: registered models and tensorflow-datasets builders.

The registry fills as the builder modules import, and they import Keras (so TensorFlow: 5-7 s on a small CPU);
tensorflow-datasets lists its builders only after importing TensorFlow too. So both lists are kept in
``names.json`` beside this file, and a mistyped name is answered, with the same message and close matches as the
library's own check, in a fraction of a second. ``tests/cli/test_names.py`` fails when the file and the live
registry differ; regenerate it with::

    python -m kerazoo.cli.names
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re

INDEX_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "names.json")


@functools.lru_cache(maxsize=1)
def index() -> dict:
    """``{"models": [names in registration order], "tfds": {"version": ..., "builders": [...]}}``."""
    with open(INDEX_PATH, encoding="utf-8") as f:
        return json.load(f)


def _compact(name: str) -> str:
    """A name without case and ``_``/``-``/space separators: ``ResNet-50`` and ``resnet_50`` are ``resnet50``."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def check_model(name: str) -> None:
    """Raise the registry's ValueError (close names included) when ``name`` is not a registered model in any
    spelling the registry accepts (case and separators ignored)."""
    models = index()["models"]
    by_compact = {_compact(n): n for n in models}
    if name.strip().lower() in models or _compact(name) in by_compact:
        return
    close = difflib.get_close_matches(_compact(name), list(by_compact), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(by_compact[c] for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} `kerazoo models` (or kerazoo.applications.list_models()) lists all "
        f"{len(models)} registered models."
    )


def _tfds_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("tensorflow-datasets")
    except metadata.PackageNotFoundError:
        return None


def check_dataset(name: str) -> None:
    """Raise the datasets module's ValueError when ``name`` is neither a kerazoo dataset nor a tensorflow-datasets
    builder. Names are only judged against the builders of the tensorflow-datasets version the index was made with;
    under another version an unknown name is left to the library (it lists the installed builders), and so is any
    name with a colon: a tfds version (``mnist:3.0.1``) or a folder of a format (``coco:DIR``, ``masks:DIR``)."""
    from kerazoo.datasets import GENERATED_DATASETS, LOCAL_DATASETS, canonical_name

    key = canonical_name(name)
    builders = index()["tfds"]["builders"]
    if ":" in key or key in LOCAL_DATASETS or key in GENERATED_DATASETS or key.split("/")[0] in builders:
        return
    if index()["tfds"]["version"] != _tfds_version():
        return
    close = difflib.get_close_matches(key, list(dict.fromkeys([*LOCAL_DATASETS, *GENERATED_DATASETS, *builders])),
                                      n=4, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown dataset {name!r}: not a kerazoo local dataset ({', '.join(LOCAL_DATASETS)}) and not a "
        f"tensorflow-datasets name.{hint}"
    )


def live_index() -> dict:
    """The index made from the live registry and tensorflow-datasets (imports both, so TensorFlow)."""
    import tensorflow_datasets as tfds

    from kerazoo.applications import registry

    return {"models": registry.registered_names(), "tfds": {"version": _tfds_version(),
                                                          "builders": sorted(tfds.list_builders())}}


def write_index(path: str = INDEX_PATH) -> str:
    from kerazoo.io import atomic_write_text

    atomic_write_text(path, json.dumps(live_index(), indent=0) + "\n")
    return path


if __name__ == "__main__":
    print(write_index())

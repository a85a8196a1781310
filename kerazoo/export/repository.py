"""The model repository, TF Serving's layout: ``REPO/NAME/VERSION/`` with integer versions.

A version appears only complete: it is written under ``REPO/NAME/.tmp-*`` (a name TF Serving ignores) and renamed
to its integer name at the end. Names that are not integers are never versions.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager

from kerazoo.io import temporary_folder

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_model_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(
            f"Invalid model name: expected letters, digits, '_', '.', '-' (TF Serving's model names). Received: name={name!r}"
        )
    return name


def versions(repo: str, name: str) -> list[int]:
    """The integer versions of ``name`` in ``repo``, ascending (temporary and other folders are skipped)."""
    folder = os.path.join(repo, name)
    if not os.path.isdir(folder):
        return []
    return sorted(int(d) for d in os.listdir(folder) if d.isdigit() and os.path.isdir(os.path.join(folder, d)))


@contextmanager
def new_version(repo: str, name: str, version: int | None = None):
    """Yield a temporary folder to write a version into; on success rename it to ``REPO/NAME/VERSION``.

    On any error the temporary folder is removed and no version appears.
    """
    check_model_name(name)
    folder = os.path.join(repo, name)
    os.makedirs(folder, exist_ok=True)
    if version is None:
        version = (versions(repo, name) or [0])[-1] + 1
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"Invalid version: expected a positive integer. Received: version={version!r}")
    final = os.path.join(folder, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"Version {version} of {name!r} already exists at {final}; versions are immutable.")
    tmp = temporary_folder(final)  # ".tmp-...": a name TF Serving skips
    try:
        yield tmp, version
        os.rename(tmp, final)  # atomic on one filesystem; fails if another writer took the number meanwhile
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)

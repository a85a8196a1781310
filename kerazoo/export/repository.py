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


TMP_PREFIX = ".tmp-"
_LEFTOVER = re.compile(r"^\.tmp-(\d+)-")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; or no such PID at all on this system
        return True
    return True


def remove_leftovers(folder: str) -> list[str]:
    """Remove the temporary version folders in ``folder`` whose writer process is gone (an export killed midway);
    returns their paths. Folders of a running export, and names without a writer PID, are left alone."""
    removed = []
    for entry in os.listdir(folder):
        match = _LEFTOVER.match(entry)
        if match and not _running(int(match.group(1))):
            path = os.path.join(folder, entry)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def new_version(repo: str, name: str, version: int | None = None):
    """Yield a temporary folder to write a version into; on success rename it to ``REPO/NAME/VERSION``.

    On any error the temporary folder is removed and no version appears; leftovers of exports killed before they
    could clean up (their writer PID gone) are removed first.
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
    remove_leftovers(folder)
    # ".tmp-PID-...": a name TF Serving (and kerazoo serve) skips; the PID tells a later export whether its writer
    # still runs, so a killed export's folder is removed by the next one and a running one's is left alone.
    tmp = temporary_folder(final, prefix=f"{TMP_PREFIX}{os.getpid()}-")
    try:
        yield tmp, version
        os.rename(tmp, final)  # atomic on one filesystem; fails if another writer took the number meanwhile
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)

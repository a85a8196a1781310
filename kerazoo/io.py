"""File writes that a crash cannot leave half-done: write under a temporary name in the same folder, then rename.

The temporary names are made here rather than by ``tempfile.mkstemp``/``mkdtemp``, which create them private (0600
files, 0700 folders): renamed into place, those modes would keep a TF Serving container, a web server or a teammate
running as another user from reading exported versions, checkpoints and images. Files and folders created at these
names get the usual permissions of the process's umask.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager


def temporary_name(path: str, prefix: str = ".tmp-") -> str:
    """A fresh, unused name beside ``path`` (same folder, so the final rename is atomic) that ends like ``path``
    (writers such as ``model.save`` and ``savefig`` read the format from the suffix)."""
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{prefix}{uuid.uuid4().hex[:12]}-{base}")


def temporary_folder(path: str, prefix: str = ".tmp-") -> str:
    """Create and return a fresh folder beside ``path`` (umask permissions) to build a folder in before renaming."""
    tmp = temporary_name(path, prefix)
    os.mkdir(tmp)
    return tmp


@contextmanager
def atomic_file(path: str):
    """Yield a temporary file name beside ``path`` for a writer to create (``model.save(tmp)``,
    ``fig.savefig(tmp)``); if the block ends without error it is renamed to ``path`` (replacing the old file),
    otherwise removed, and ``path`` is left as it was."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def replaced_folder(path: str):
    """Yield a fresh temporary folder beside ``path`` to build a folder in; if the block ends without error it
    replaces ``path`` (an existing folder there is removed first), otherwise it is removed and ``path`` is left as
    it was."""
    import shutil

    tmp = temporary_folder(path)
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (readers see the old file or the new one, never a partial one)."""
    with atomic_file(path) as tmp, open(tmp, "x", encoding="utf-8") as f:
        f.write(text)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sha256(path) -> str:
    """Write ``PATH.sha256`` (``<hex>  <basename>``) beside a file, atomically, and return the hash."""
    digest = sha256_of(path)
    atomic_write_text(f"{path}.sha256", f"{digest}  {os.path.basename(path)}\n")
    return digest


def verify_sha256(path) -> None:
    """Check ``path`` against ``PATH.sha256`` when that file exists; a mismatch names both hashes."""
    sidecar = f"{path}.sha256"
    if not os.path.exists(sidecar):
        return
    with open(sidecar, encoding="utf-8") as f:
        expected = f.read().split()[0].lower()
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(
            f"Weights file {path} does not match its hash file {sidecar}: expected sha256 {expected}, "
            f"file has {actual}. The file is corrupt or was replaced."
        )

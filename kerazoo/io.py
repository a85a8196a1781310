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


def save_figure(fig, path: str, title: str | None = None, *, dpi="figure") -> str:
    """Write a matplotlib figure as a PNG to ``path`` (temp name, then rename), titled ``title`` when given, and
    close it; return the path. The one figure writer of the package (plots, curves, visualizations)."""
    import matplotlib.pyplot as plt

    if not str(path).lower().endswith(".png"):
        raise ValueError(f"Invalid out: expected a path ending in .png. Received: out={path!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if title is not None:
        fig.suptitle(title)
    try:
        with atomic_file(str(path)) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return str(path)


def open_image(path: str):
    """An image file decoded by Pillow (a loaded ``PIL.Image``, file closed): a missing file is a FileNotFoundError
    and an undecodable one a ValueError, each naming the path. The one place image files are opened."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path} does not exist.")
    try:
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"Cannot read {path} as an image ({type(error).__name__}: {error}). "
                         "Expected a PNG, JPEG or other file that Pillow decodes.") from None
    return image


def read_image(path: str, shape: tuple | None = None):
    """An image file (PNG, JPEG, ... anything Pillow decodes) as float32 raw pixels 0-255 [H, W, C]: grey files
    give one channel, others RGB (alpha and palettes dropped). With ``shape`` (H, W, C), converted to C channels
    (ITU-R 601 luma for grey) and resized (bilinear) to H x W where those are not None. The one image reader."""
    import numpy as np
    from PIL import Image

    image = open_image(path)
    channels = shape[-1] if shape is not None else (1 if image.mode in ("1", "L", "I", "I;16", "F") else 3)
    if channels not in (1, 3):
        raise ValueError(f"Invalid shape: expected 1 or 3 channels. Received: shape={tuple(shape)!r}")
    image = image.convert("L" if channels == 1 else "RGB")
    if shape is not None and shape[0] is not None and shape[1] is not None and image.size != (shape[1], shape[0]):
        image = image.resize((int(shape[1]), int(shape[0])), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, np.float32)
    return pixels[..., None] if pixels.ndim == 2 else pixels


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

"""The source frameworks themselves (the ``convert`` extra: torch, torchvision, timm), imported for parity checks and
benches, never by a model's build or load path.

With the CPU torch wheel, torchvision's compiled ops do not load (its wheel is built against CUDA torch), and its
import registers fake kernels for them through ``torch.library.register_fake``, which fails. The model definitions
are plain PyTorch, so the registration is made a no-op while torchvision imports.
"""

from __future__ import annotations

__all__ = ["import_timm", "import_torchvision"]


def import_torchvision():
    """``torchvision``, importable beside the CPU torch wheel (its compiled ops stay unavailable)."""
    import torch

    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    return torchvision


def import_timm():
    """``timm`` (which imports torchvision) under the same condition."""
    import_torchvision()
    import timm

    return timm

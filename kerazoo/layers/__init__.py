"""Reusable Keras layers that the zoo families need, each usable on its own and serializable by name."""

from kerazoo.layers.drop_path import DropPath, drop_path_rates
from kerazoo.layers.shortcut import ZeroPadShortcut

__all__ = ["DropPath", "drop_path_rates", "ZeroPadShortcut"]

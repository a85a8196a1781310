"""Keras opens every kerazoo ``.keras`` file after ``import kerazoo`` alone.

    import kerazoo, keras
    model = keras.models.load_model("runs/resnet20/checkpoints/best.keras")

Keras finds a custom class by its registered name (``kerazoo>DropPath``), which exists only once the module defining
it has run ``register_keras_serializable``. Importing those modules from ``kerazoo/__init__`` would import TensorFlow
with ``import kerazoo`` (and with every ``kerazoo --help``), so registration waits for Keras: the package import calls
``install()``, an import hook that imports ``SERIALIZABLE_MODULES`` as soon as Keras is loaded and no kerazoo module is
half-imported (a kerazoo module that imports Keras finishes first, so the registration imports never see it half-built).
After registering, the hook removes itself.
"""

import importlib
import importlib.abc
import sys

# Every module that calls ``keras.saving.register_keras_serializable`` (tests/test_saving.py checks the list against
# the source, so a new one cannot be forgotten).
SERIALIZABLE_MODULES = (
    "kerazoo.layers",
    "kerazoo.losses",
    "kerazoo.applications.pretrained.preprocess",
    "kerazoo.applications.vit",
    "kerazoo.training.schedules",
    "kerazoo.training.tasks",
    "kerazoo.training.transfer",
    "kerazoo.generative.common",
    "kerazoo.generative.gan",
    "kerazoo.generative.pixelrnn",
    "kerazoo.generative.vae",
    "kerazoo.rl.networks",
    "kerazoo.sequence.captioning",
    "kerazoo.sequence.charrnn",
    "kerazoo.sequence.tasks",
    "kerazoo.vision.tasks",
    "kerazoo.vision.ram",
    "kerazoo.vision.detection.boxes",
    "kerazoo.vision.detection.roi_align",
    "kerazoo.vision.detection.single_shot",
    "kerazoo.vision.detection.two_stage",
    "kerazoo.visualize.gradients",
)

_state = {"registered": False, "loading": 0}


def register_all() -> None:
    """Import every module in ``SERIALIZABLE_MODULES`` once, registering its Keras objects.

    A module whose optional dependency is not installed (gymnasium for ``kerazoo.rl``) is skipped: files that need it
    cannot be used without it anyway, and ``import kerazoo`` must not fail for it.
    """
    if _state["registered"]:
        return
    _state["registered"] = True
    _uninstall()
    for name in SERIALIZABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or error.name.split(".")[0] in ("kerazoo", "keras"):
                raise


def install() -> None:
    """Register now if Keras is already loaded, else when it is (see the module docstring)."""
    if _state["registered"]:
        return
    if "keras" in sys.modules:
        register_all()
    elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())


def _uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _RegisterAfterKeras)]


def _watched(fullname: str) -> bool:
    return fullname == "keras" or fullname.startswith("kerazoo.")


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds ``keras`` and ``kerazoo.*`` through the other finders and wraps their loaders in ``_CountingLoader``."""

    def find_spec(self, fullname, path=None, target=None):
        if not _watched(fullname) or _state["registered"]:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CountingLoader(spec.loader)
                return spec
        return None


class _CountingLoader(importlib.abc.Loader):
    """Counts the watched modules being executed; when the last one finishes with Keras loaded, registers."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package... of the real loader
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        _state["loading"] += 1
        try:
            self._loader.exec_module(module)
        finally:
            _state["loading"] -= 1
        if _state["loading"] == 0 and "keras" in sys.modules:
            register_all()

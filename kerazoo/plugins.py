"""The entry tables of the packages that register with a lower layer, imported by name on first use.

The zoo and the training service sit below the task and tool packages (docs/architecture.md), so they may not
import them; instead each package registers what it adds (models, training tasks, trainers) when it is imported,
and this module imports it by the name written here when a lookup needs it. Add a package or a trainer here.
"""

from __future__ import annotations

import importlib
import importlib.util

# Packages that register zoo models and training tasks (detectors, generative models, captioners ...) on import.
PACKAGES = ("kerazoo.vision", "kerazoo.generative", "kerazoo.sequence")

# Trainer name → the module that calls kerazoo.training.tasks.register_trainer for it on import. A trainer wraps
# the model ``fit`` runs; ``Task.trainer`` picks one by the config section that asks for it.
TRAINERS = {
    "adversarial": "kerazoo.adversarial.training",  # config.adversarial.method != "none"
    "distill": "kerazoo.optimize.distill",  # config.distill.teacher
}

_packages_loaded = False


def load_plugins() -> None:
    """Import the registering packages that exist (once), so their models and tasks join the registries."""
    global _packages_loaded
    if _packages_loaded:
        return
    _packages_loaded = True
    for package in PACKAGES:
        if importlib.util.find_spec(package) is not None:
            importlib.import_module(package)


def load_trainer(name: str) -> None:
    """Import the module that registers trainer ``name`` (nothing for a name the table does not hold)."""
    if name in TRAINERS:
        importlib.import_module(TRAINERS[name])

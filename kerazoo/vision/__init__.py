"""kerazoo.vision: dense-prediction heads on any zoo backbone, trained by the same ``kerazoo train`` service.

Importing the package registers its models (the registry imports it on first lookup) and their training Tasks:
``localizer`` (task "localization"), ``ram`` (task "attention", kerazoo.vision.ram), ``fcn8s``, ``unet``,
``segnet`` (task "segmentation"); detectors live in
``kerazoo.vision.detection``. See docs/vision.md.
"""

from kerazoo.vision import localization, ram, segmentation, tasks  # noqa: F401  (registers models and Tasks)
from kerazoo.vision import detection  # noqa: F401  (registers the detectors and their Task)

__all__ = ["detection", "localization", "ram", "segmentation", "tasks"]
